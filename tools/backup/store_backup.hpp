// `hive backup` and `hive restore`: the embedded store (storage_sqlite's SQLite
// file) copied with SQLite's online backup API. A tool of the CLI, linked into
// the `hive` executable only: the kernel library knows no store.
#pragma once

#include <string>
#include <vector>

namespace hive::tools {

struct BackupOptions {
  std::vector<std::string> configFiles;  // the config layers naming the store
  std::string file;                      // backup: the file to write; restore: the file to read
  bool force = false;                    // backup: overwrite an existing file
};

// Exit status: 0 done; 1 failed on the way (the reason on stderr, nothing half-written
// left behind); 2 refused (bad arguments, a store that is not storage_sqlite, a
// hive still running on the store for restore).
int backupCommand(const BackupOptions& options);
int restoreCommand(const BackupOptions& options);

}  // namespace hive::tools
