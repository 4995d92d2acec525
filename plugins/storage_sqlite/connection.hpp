// A thin RAII layer over one sqlite3 connection: prepared statements cached per
// connection, typed binds and reads, and SQLite result codes turned into Status.
// A Connection is used by one thread at a time (the writer, or a reader that
// borrowed it from the pool); it is opened SQLITE_OPEN_NOMUTEX.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "hive/status.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace hive::storage_sqlite {

// Maps an SQLite result code to a canonical code, with `what` and SQLite's message.
Status sqliteStatus(int code, std::string_view what, sqlite3* db);

// A prepared statement borrowed from a Connection's cache; reset (and its bindings
// cleared) when it goes out of scope. Bind indexes are 1-based, column indexes 0-based.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* statement) : db_(db), statement_(statement) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept : db_(other.db_), statement_(other.statement_) {
    other.statement_ = nullptr;
  }

  Statement& bind(int index, std::int64_t value);
  Statement& bindText(int index, std::string_view value);
  Statement& bindBlob(int index, std::string_view value);
  Statement& bindNull(int index);
  // Text, or NULL when empty.
  Statement& bindOptionalText(int index, std::string_view value);

  // true: a row is available; false: done. Errors carry the SQL's purpose.
  Result<bool> step();
  // Runs a statement that returns no rows (or ignores them).
  Status run();
  // Rows changed by the last run().
  std::int64_t changes() const;

  std::int64_t integer(int column) const;
  std::string text(int column) const;  // "" for NULL
  std::string blob(int column) const;  // "" for NULL
  bool isNull(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* statement_;
  Status bindStatus_;
};

class Connection {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  static Result<std::unique_ptr<Connection>> open(const std::string& path, Mode mode,
                                                  std::chrono::milliseconds busyTimeout);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements without results.
  Status execute(std::string_view sql);
  // A cached prepared statement for `sql` (prepared on first use).
  Result<Statement> prepare(std::string_view sql);
  // One statement without results, prepared once: for the SAVEPOINT, RELEASE
  // and COMMIT of every operation, which execute() parsed again each time.
  Status run(std::string_view sql) {
    auto statement = prepare(sql);
    if (!statement.ok()) return statement.status();
    return statement->run();
  }

  sqlite3* handle() { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace hive::storage_sqlite
