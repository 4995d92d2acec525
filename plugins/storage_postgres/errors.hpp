// libpqxx throws; the store returns Status. Every conversion happens here, and
// every message passes through a Redactor first.
#pragma once

#include <exception>
#include <string>

#include "hive/status.hpp"

namespace hive::storage_postgres {

// Removes the configured password from any text that might echo it.
class Redactor {
 public:
  Redactor() = default;
  explicit Redactor(std::string secret) : secret_(std::move(secret)) {}
  std::string operator()(std::string text) const;

 private:
  std::string secret_;
};

// Whether a failed statement is worth running again (serialization failure, deadlock).
bool isRetryable(const std::exception& error);

// The Status for an exception thrown by libpqxx (or anything else).
Status statusFromException(const std::exception& error, const Redactor& redact);

// True when the exception means the connection is gone.
bool isConnectionLoss(const std::exception& error);

}  // namespace hive::storage_postgres
