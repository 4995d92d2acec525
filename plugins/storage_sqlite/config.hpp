// storage_sqlite's `config:` section, read and validated once in configure().
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "hive/config.hpp"

namespace hive::storage_sqlite {

enum class Synchronous { kFull, kNormal };

struct Settings {
  // The database file; relative paths are under the plugin's data directory.
  std::string path = "store.sqlite3";
  // full: every commit is fsync'd before it is acknowledged (durable).
  // normal: WAL is fsync'd only at checkpoints; a power loss may drop the last commits.
  Synchronous synchronous = Synchronous::kFull;
  std::chrono::milliseconds busyTimeout{5000};
  int readers = 4;                         // reader connections, 1..32
  std::size_t maxDocumentBytes = 1 << 20;  // document bodies and event bodies
  std::size_t maxPayloadBytes = 1 << 20;   // queue payloads
  std::size_t maxBatch = 512;              // write requests per group commit
  std::size_t maxPendingWrites = 10000;    // callers beyond this wait for room
  // Free pages given back to the file system after a commit that deleted in
  // bulk (trim, document removes); 0 keeps them for reuse. 256 pages = 1 MiB.
  std::size_t incrementalVacuumPages = 256;
  // Fault injection, for tests of supervision only
  // (`fault_injection: {writer_stall: 30s, when_file_exists: PATH}`): the
  // writer's first batch once PATH exists (the first batch when no path is
  // given) waits this long before it runs.
  std::chrono::milliseconds faultWriterStall{0};
  std::string faultWriterStallFile;
};

// Reads `section` into Settings; every problem goes into `diagnostics` with its location.
Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics);

// `path` resolved against `dataDirectory` when relative.
std::string databasePath(const Settings& settings, const std::string& dataDirectory);

}  // namespace hive::storage_sqlite
