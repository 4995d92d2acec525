// Where a Redis server is: redis://[[user]:password@]host[:port][/db], as the
// communication_engine's bus and security_manager's shared rate limits read it.
// Header-only, shared by in-tree plugins (not SDK). The password is never part
// of an error or of redacted().
#pragma once

#include <charconv>
#include <string>
#include <string_view>

#include "hive/status.hpp"

namespace hive::plugin_common {

struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;  // never logged
  int database = 0;

  // "redis://127.0.0.1:6379/0" (the password is never part of it).
  std::string redacted() const {
    return "redis://" + std::string(password.empty() ? "" : "***@") + host + ":" + std::to_string(port) +
           "/" + std::to_string(database);
  }
};

namespace detail {
inline bool parseRedisInt(std::string_view text, int low, int high, int& out) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value < low || value > high)
    return false;
  out = value;
  return true;
}
}  // namespace detail

// Errors never quote the password.
inline Result<RedisEndpoint> parseRedisUrl(const std::string& url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.size() > 1024) return invalidArgument("redis url longer than 1024 characters");
  if (url.compare(0, kScheme.size(), kScheme) != 0)
    return invalidArgument("redis url must start with redis://");
  std::string_view rest(url);
  rest.remove_prefix(kScheme.size());
  RedisEndpoint endpoint;
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view credentials = rest.substr(0, at);
    auto colon = credentials.find(':');
    // user:password (Redis 6 ACL users are not supported: only the password is sent)
    endpoint.password =
        std::string(colon == std::string_view::npos ? credentials : credentials.substr(colon + 1));
    rest.remove_prefix(at + 1);
  }
  std::string_view hostPort = rest;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    hostPort = rest.substr(0, slash);
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && !detail::parseRedisInt(db, 0, 1'000'000, endpoint.database))
      return invalidArgument("redis url: database '" + std::string(db) + "' is not a number");
  }
  if (auto colon = hostPort.rfind(':'); colon != std::string_view::npos) {
    if (!detail::parseRedisInt(hostPort.substr(colon + 1), 1, 65535, endpoint.port))
      return invalidArgument("redis url: port '" + std::string(hostPort.substr(colon + 1)) +
                             "' is not in 1..65535");
    hostPort = hostPort.substr(0, colon);
  }
  if (hostPort.empty()) return invalidArgument("redis url has no host");
  endpoint.host = std::string(hostPort);
  return endpoint;
}

}  // namespace hive::plugin_common
