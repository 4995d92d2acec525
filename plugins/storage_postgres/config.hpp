// The storage_postgres `config:` section as typed settings, validated once.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "hive/config.hpp"

namespace hive::storage_postgres {

struct Config {
  std::string url;  // libpq URL or key=value string; holds the password, never logged
  std::string schema = "hive";
  std::size_t poolSize = 8;
  std::chrono::milliseconds connectTimeout{5000};
  // How long a call waits for a pooled connection before failing with kUnavailable.
  std::chrono::milliseconds acquireTimeout{5000};
  std::chrono::milliseconds statementTimeout{30000};
  std::chrono::milliseconds reconnectBackoffInitial{100};
  std::chrono::milliseconds reconnectBackoffMax{5000};
  std::size_t maxDocumentBytes = 1 << 20;
  std::size_t maxPayloadBytes = 1 << 20;
  std::size_t maxEventBytes = 1 << 20;
  std::size_t batchMaxSize = 256;
  // Group-commit transactions in flight at once; the rest of the pool serves reads
  // and transact().
  std::size_t batchConcurrency = 4;
};

// Reads and checks `section`; every problem goes to `diagnostics` with its location.
Config parseConfig(const ConfigNode& section, Diagnostics& diagnostics);

// The URL with its password replaced by "***" (URL userinfo, ?password= and
// key=value forms), for log lines and status output.
std::string redactUrl(const std::string& url);

// The password written in `url`, or "" when there is none.
std::string passwordOf(const std::string& url);

// `url` with libpq's connect_timeout set (whole seconds, at least 1).
std::string withConnectTimeout(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace hive::storage_postgres
