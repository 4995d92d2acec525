// The data_processing_engine's `config:` section, read and checked once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "hive/config.hpp"

namespace hive::data_processing_engine {

struct Limits {
  std::size_t maxInputBytes = 64 * 1024 * 1024;  // a file, or an inline body
  std::size_t maxItems = 1000000;
  std::size_t maxChunks = 10000;
  std::size_t maxChunkSize = 10000;
  std::size_t maxParallelism = 64;
  std::uint32_t maxRetries = 10;
  std::size_t maxOutputBytes = 64 * 1024 * 1024;  // GET …/output serves at most this
};

struct Options {
  Limits limits;
  std::string inputDirectory;   // empty: <data directory>/input
  std::string outputDirectory;  // empty: <data directory>/output
  std::chrono::milliseconds reconcilePeriod{500};
  std::chrono::milliseconds taskCallTimeout{30000};
};

// Every problem goes to `diagnostics`, located at its key.
Options readConfig(const ConfigNode& section, Diagnostics& diagnostics);

}  // namespace hive::data_processing_engine
