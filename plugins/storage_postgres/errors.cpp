#include "errors.hpp"

#include <pqxx/except>

namespace hive::storage_postgres {

std::string Redactor::operator()(std::string text) const {
  if (secret_.empty()) return text;
  for (std::size_t pos = text.find(secret_); pos != std::string::npos; pos = text.find(secret_, pos + 3))
    text.replace(pos, secret_.size(), "***");
  return text;
}

bool isRetryable(const std::exception& error) {
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error);
  if (sql == nullptr) return false;
  const std::string& state = sql->sqlstate();
  return state == "40001" || state == "40P01";
}

bool isConnectionLoss(const std::exception& error) {
  if (dynamic_cast<const pqxx::broken_connection*>(&error) != nullptr) return true;
  if (dynamic_cast<const pqxx::in_doubt_error*>(&error) != nullptr) return true;
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error);
  if (sql == nullptr) return false;
  const std::string& state = sql->sqlstate();
  // 08: connection exception; 57P01..57P03: admin shutdown, crash shutdown, cannot connect now.
  return state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03";
}

Status statusFromException(const std::exception& error, const Redactor& redact) {
  std::string message = error.what();
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  message = redact(std::move(message));
  if (dynamic_cast<const pqxx::in_doubt_error*>(&error) != nullptr)
    return unavailable("connection lost during commit, outcome unknown: " + message);
  if (isConnectionLoss(error)) return unavailable("database connection lost: " + message);
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error);
  if (sql == nullptr) return internalError("postgres: " + message);
  const std::string& state = sql->sqlstate();
  if (state == "40001" || state == "40P01") return aborted("postgres: " + message);
  if (state == "23505") return alreadyExists("postgres: " + message);
  if (state == "57014") return deadlineExceeded("postgres: statement timed out: " + message);
  if (state.rfind("53", 0) == 0) return resourceExhausted("postgres: " + message);
  // 22003: a bigint left its range (a counter, Transaction::addToCounter).
  if (state == "22003") return Status(StatusCode::kOutOfRange, "postgres: " + message);
  if (state.rfind("22", 0) == 0) return invalidArgument("postgres: " + message);
  return internalError("postgres [" + state + "]: " + message);
}

}  // namespace hive::storage_postgres
