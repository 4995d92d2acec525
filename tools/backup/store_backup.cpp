#include "tools/backup/store_backup.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>

#include "host/config/kernel_config.hpp"
#include "host/control_socket.hpp"

namespace hive::tools {
namespace {

namespace fs = std::filesystem;

constexpr const char* kStorePlugin = "storage_sqlite";
constexpr int kRefused = 2;

struct Closer {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Database = std::unique_ptr<sqlite3, Closer>;

Result<Database> open(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Database db(raw);
  if (rc != SQLITE_OK)
    return unavailable("cannot open " + path + ": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  sqlite3_busy_timeout(db.get(), 10'000);
  return db;
}

// The first column of the first row of `sql`, as text.
Result<std::string> scalar(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK)
    return unavailable(sqlite3_errmsg(db));
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> statement(raw, sqlite3_finalize);
  int rc = sqlite3_step(raw);
  if (rc != SQLITE_ROW) return unavailable(rc == SQLITE_DONE ? "no result" : sqlite3_errmsg(db));
  const unsigned char* text = sqlite3_column_text(raw, 0);
  return std::string(text ? reinterpret_cast<const char*>(text) : "");
}

// A copy that SQLite finds whole and that holds a Hive store.
Status verifyStore(sqlite3* db, const std::string& path) {
  auto integrity = scalar(db, "PRAGMA integrity_check");
  if (!integrity.ok() || *integrity != "ok")
    return failedPrecondition(
        path + ": integrity_check failed: " + (integrity.ok() ? *integrity : integrity.status().message()));
  auto version = scalar(db, "SELECT max(version) FROM schema_version");
  if (!version.ok()) return invalidArgument(path + " is not a Hive store (no schema_version table)");
  return okStatus();
}

// The store file the config's storage_sqlite uses (its `path`, under
// <data_dir>/storage_sqlite/ when relative, as the plugin resolves it).
Result<std::string> storePath(const std::vector<std::string>& files) {
  Diagnostics diagnostics;
  auto config = host::loadKernelConfig(files, diagnostics);
  for (const auto& d : diagnostics.items()) std::cerr << d.toString() << "\n";
  if (!config.ok()) return config.status();
  for (const auto& plugin : config->plugins) {
    if (plugin.name != kStorePlugin || !plugin.enabled) continue;
    std::string path = "store.sqlite3";
    if (const ConfigNode* set = plugin.config.find("path"); set != nullptr && set->isScalar())
      path = set->text();
    if (path.front() == '/') return path;
    return (fs::path(config->dataDirectory) / kStorePlugin / path).string();
  }
  return failedPrecondition(host::layerNames(files) + " does not enable " + kStorePlugin +
                            ": hive backup copies the embedded store; for storage_postgres use pg_dump "
                            "(docs/operators.md, \"Backup and restore\")");
}

// The pid of a process (ours excepted) that has `path` open, or 0. Sees every
// process as root, else those of the same user: run restore as Hive's user or root.
long userOf(const std::string& path) {
  std::error_code error;
  fs::path target = fs::weakly_canonical(path, error);
  for (const auto& process : fs::directory_iterator("/proc", error)) {
    std::string name = process.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos || std::stol(name) == ::getpid()) continue;
    std::error_code unreadable;
    for (const auto& fd : fs::directory_iterator(process.path() / "fd", unreadable)) {
      std::error_code gone;
      fs::path opened = fs::read_symlink(fd.path(), gone);
      if (!gone && (opened == target || opened == fs::path(target.string() + "-wal"))) return std::stol(name);
    }
  }
  return 0;
}

Status syncFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return unavailable("cannot open " + path + " to sync it");
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? okStatus() : unavailable("fsync " + path + " failed");
}

// Copies `from` into a new file `to` (which must not exist) page by page with
// one read transaction on `from`: a consistent snapshot however much is written
// meanwhile (writers go on; a WAL checkpoint waits), checked, synced.
Status copyStore(sqlite3* from, const std::string& fromName, const std::string& to) {
  auto pages = scalar(from, "PRAGMA page_count");
  auto pageSize = scalar(from, "PRAGMA page_size");
  if (pages.ok() && pageSize.ok() && ::isatty(STDERR_FILENO))
    std::cerr << "copying " << fromName << ": " << *pages << " pages ("
              << std::stoll(*pages) * std::stoll(*pageSize) / (1024 * 1024) << " MiB)...\n";
  auto target = HIVE_TRY(open(to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXCLUSIVE));
  sqlite3_backup* backup = sqlite3_backup_init(target.get(), "main", from, "main");
  if (backup == nullptr)
    return unavailable("cannot start the copy: " + std::string(sqlite3_errmsg(target.get())));
  int rc = SQLITE_OK;
  // -1: the whole file in one step, so in one read transaction (steps would
  // restart whenever the running Hive writes).
  while ((rc = sqlite3_backup_step(backup, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(50);
  sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) return unavailable("copy failed: " + std::string(sqlite3_errstr(rc)));
  HIVE_TRY(verifyStore(target.get(), to));
  target.reset();
  return syncFile(to);
}

Status backup(const BackupOptions& options) {
  std::string store = HIVE_TRY(storePath(options.configFiles));
  if (fs::exists(options.file) && !options.force)
    return alreadyExists(options.file + " exists (--force replaces it)");
  if (!fs::exists(store)) return notFound("no store at " + store + " (has Hive run with this config?)");
  if (!fs::is_regular_file(store)) return invalidArgument(store + " is not a file");
  // Read-write without create: a WAL database's readers need its -shm file.
  auto source = HIVE_TRY(open(store, SQLITE_OPEN_READWRITE));
  std::string partial = options.file + ".partial";
  fs::remove(partial);
  auto started = std::chrono::steady_clock::now();
  Status copied = copyStore(source.get(), store, partial);
  if (!copied.ok()) {
    fs::remove(partial);
    return copied;
  }
  std::error_code error;
  fs::rename(partial, options.file, error);
  if (error) return unavailable("cannot rename " + partial + " to " + options.file + ": " + error.message());
  auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  std::cout << "backup of " << store << " written to " << options.file << " (" << fs::file_size(options.file)
            << " bytes, integrity ok, " << took.count() << " ms)\n";
  return okStatus();
}

Status restore(const BackupOptions& options) {
  std::string store = HIVE_TRY(storePath(options.configFiles));
  Diagnostics ignored;
  if (auto config = host::loadKernelConfig(options.configFiles, ignored);
      config.ok() && !config->controlSocket.empty() &&
      host::sendControlCommand(config->controlSocket, "plugins status").ok())
    return failedPrecondition("a hive is running on this config (its control socket " +
                              config->controlSocket + " answers): stop it first");
  if (long pid = userOf(store); pid != 0)
    return failedPrecondition(store + " is open in process " + std::to_string(pid) +
                              ": stop the hive using it first");
  if (!fs::exists(options.file)) return notFound(options.file + " does not exist");
  {
    auto backupFile = HIVE_TRY(open(options.file, SQLITE_OPEN_READONLY));
    HIVE_TRY(verifyStore(backupFile.get(), options.file));
  }
  fs::create_directories(fs::path(store).parent_path());
  // The current store is kept beside, never deleted by a restore.
  std::string aside;
  if (fs::exists(store)) {
    aside = store + ".before-restore-" +
            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
    for (const char* suffix : {"", "-wal", "-shm"})
      if (fs::exists(store + suffix)) fs::rename(store + suffix, aside + suffix);
  }
  auto source = HIVE_TRY(open(options.file, SQLITE_OPEN_READONLY));
  std::string partial = store + ".partial";
  fs::remove(partial);
  if (Status copied = copyStore(source.get(), options.file, partial); !copied.ok()) {
    fs::remove(partial);
    return copied;
  }
  fs::rename(partial, store);
  std::cout << "restored " << options.file << " to " << store;
  if (!aside.empty()) std::cout << " (the previous store is kept as " << aside << ")";
  std::cout << "\n";
  return okStatus();
}

// 2 for what the operator can fix (arguments, config, a running hive, a bad
// backup file), 1 for a failure on the way.
int report(const Status& status, const char* command) {
  if (status.ok()) return 0;
  std::cerr << "hive " << command << ": " << status.message() << "\n";
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition: return kRefused;
    default: return 1;
  }
}

}  // namespace

int backupCommand(const BackupOptions& options) { return report(backup(options), "backup"); }

int restoreCommand(const BackupOptions& options) { return report(restore(options), "restore"); }

}  // namespace hive::tools
