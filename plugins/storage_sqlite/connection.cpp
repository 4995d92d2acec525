#include "connection.hpp"

#include <sqlite3.h>

#include <mutex>
#include <utility>

namespace hive::storage_sqlite {

Status sqliteStatus(int code, std::string_view what, sqlite3* db) {
  if (code == SQLITE_OK || code == SQLITE_DONE || code == SQLITE_ROW) return okStatus();
  std::string message = std::string(what) + ": " + sqlite3_errstr(code);
  if (db != nullptr) {
    const char* detail = sqlite3_errmsg(db);
    if (detail != nullptr && message.find(detail) == std::string::npos)
      message += " (" + std::string(detail) + ")";
  }
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return unavailable(std::move(message));
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_TOOBIG: return resourceExhausted(std::move(message));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return Status(StatusCode::kDataLoss, std::move(message));
    case SQLITE_CONSTRAINT: return aborted(std::move(message));
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_PERM: return unavailable(std::move(message));
    default: return internalError(std::move(message));
  }
}

Statement::~Statement() {
  if (statement_ != nullptr) {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }
}

Statement& Statement::bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(statement_, index, value);
  if (rc != SQLITE_OK && bindStatus_.ok()) bindStatus_ = sqliteStatus(rc, "bind", db_);
  return *this;
}

Statement& Statement::bindText(int index, std::string_view value) {
  int rc = sqlite3_bind_text64(statement_, index, value.empty() ? "" : value.data(), value.size(),
                               SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bindStatus_.ok()) bindStatus_ = sqliteStatus(rc, "bind", db_);
  return *this;
}

Statement& Statement::bindBlob(int index, std::string_view value) {
  // A null pointer would bind NULL; an empty value is a zero-length blob.
  int rc = value.empty()
               ? sqlite3_bind_zeroblob(statement_, index, 0)
               : sqlite3_bind_blob64(statement_, index, value.data(), value.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bindStatus_.ok()) bindStatus_ = sqliteStatus(rc, "bind", db_);
  return *this;
}

Statement& Statement::bindNull(int index) {
  int rc = sqlite3_bind_null(statement_, index);
  if (rc != SQLITE_OK && bindStatus_.ok()) bindStatus_ = sqliteStatus(rc, "bind", db_);
  return *this;
}

Statement& Statement::bindOptionalText(int index, std::string_view value) {
  return value.empty() ? bindNull(index) : bindText(index, value);
}

Result<bool> Statement::step() {
  if (!bindStatus_.ok()) return bindStatus_;
  int rc = sqlite3_step(statement_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return sqliteStatus(rc, sqlite3_sql(statement_), db_);
}

Status Statement::run() {
  while (true) {
    auto row = step();
    if (!row.ok()) return row.status();
    if (!*row) return okStatus();
  }
}

std::int64_t Statement::changes() const { return sqlite3_changes64(db_); }

std::int64_t Statement::integer(int column) const { return sqlite3_column_int64(statement_, column); }

std::string Statement::text(int column) const {
  const unsigned char* data = sqlite3_column_text(statement_, column);
  if (data == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(data),
                     static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)));
}

std::string Statement::blob(int column) const {
  const void* data = sqlite3_column_blob(statement_, column);
  if (data == nullptr) return {};
  return std::string(static_cast<const char*>(data),
                     static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)));
}

bool Statement::isNull(int column) const { return sqlite3_column_type(statement_, column) == SQLITE_NULL; }

Result<std::unique_ptr<Connection>> Connection::open(const std::string& path, Mode mode,
                                                     std::chrono::milliseconds busyTimeout) {
  // SQLite counts every allocation under a process-wide mutex unless told not
  // to, before its first use: about 6% of the writer thread's time in a task
  // burst. Later (SQLite already in use: another plugin, an earlier generation)
  // the call is refused and changes nothing.
  static std::once_flag configured;
  std::call_once(configured, [] { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE |
              (mode == Mode::kReadOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status status = sqliteStatus(rc, "opening " + path, db);
    sqlite3_close_v2(db);
    return status;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(busyTimeout.count()));
  return std::unique_ptr<Connection>(new Connection(db));
}

Connection::~Connection() {
  for (auto& [sql, statement] : statements_) sqlite3_finalize(statement);
  sqlite3_close_v2(db_);
}

Status Connection::execute(std::string_view sql) {
  char* error = nullptr;
  std::string text(sql);
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return okStatus();
  Status status = sqliteStatus(rc, error != nullptr ? std::string(error) : text, db_);
  sqlite3_free(error);
  return status;
}

Result<Statement> Connection::prepare(std::string_view sql) {
  std::string key(sql);
  auto found = statements_.find(key);
  if (found != statements_.end()) return Statement(db_, found->second);
  sqlite3_stmt* statement = nullptr;
  int rc = sqlite3_prepare_v3(db_, key.c_str(), static_cast<int>(key.size()), SQLITE_PREPARE_PERSISTENT,
                              &statement, nullptr);
  if (rc != SQLITE_OK) return sqliteStatus(rc, "preparing " + key, db_);
  statements_.emplace(std::move(key), statement);
  return Statement(db_, statement);
}

}  // namespace hive::storage_sqlite
