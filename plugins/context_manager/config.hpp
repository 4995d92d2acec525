// The context_manager's `config:` section, read and checked once
// (docs/context.md lists every key and its default).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "contexts.hpp"
#include "hive/config.hpp"

namespace hive::context_manager {

enum class EmbedderKind { kHashing, kOpenAi };

struct EmbedderOptions {
  EmbedderKind kind = EmbedderKind::kHashing;
  std::size_t dimension = 256;
  // kOpenAi only.
  std::string url;     // http(s)://host[:port]/v1/embeddings
  std::string model;   // sent as "model"
  std::string apiKey;  // from api_key, or the environment variable api_key_env names; never logged
  // The name of a hive.secrets/1 secret holding the key, read at each request
  // (a rotation takes effect at once); takes precedence over apiKey.
  std::string apiKeySecret;
  std::chrono::milliseconds timeout{10000};
  int retries = 2;
  std::size_t batch = 64;
};

struct BudgetOptions {
  std::size_t maxEntries = 1000;   // active entries of a scope; 0 = no limit
  std::size_t maxTokens = 100000;  // estimated tokens of a scope's active entries; 0 = no limit
  // A compression summarises the oldest entries until what is left is at most
  // this fraction of the budget.
  double keepFraction = 0.5;
  std::string capability = "summarize";
  int priority = 5;
  std::size_t maxInputBytes = 256 * 1024;  // texts sent in one summarize task
  std::chrono::milliseconds checkPeriod{5000};
};

struct Options {
  EntryLimits limits;
  IndexOptions index;
  EmbedderOptions embedder;
  BudgetOptions budget;
  std::chrono::milliseconds savePeriod{30000};
};

// Every problem goes to `diagnostics`, located at its key.
Options readConfig(const ConfigNode& section, Diagnostics& diagnostics);

}  // namespace hive::context_manager
