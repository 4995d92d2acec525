// The smallest HTTP/1.1 client the `hive workflow` commands need: one request
// per connection to Hive's api plugin, plain HTTP. Beast stays in the .cpp.
#pragma once

#include <string>

#include "hive/status.hpp"

namespace hive::tools {

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// `url`: http://host:port (a trailing path is ignored). `apiKey`, when not
// empty, is sent as `Authorization: Bearer`. kUnavailable when Hive cannot be
// reached; kInvalidArgument for a URL this client does not speak (https).
Result<HttpAnswer> httpRequest(const std::string& url, const std::string& method, const std::string& target,
                               const std::string& body, const std::string& apiKey);

}  // namespace hive::tools
