// Small pieces of a plugin's REST routes: a JSON answer and the OpenAPI
// fragment of a route. Header-only, shared by in-tree plugins (not part of the SDK).
#pragma once

#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "hive/services/http.hpp"

namespace hive::plugin_common {

inline http::Response jsonReply(int status, const boost::json::value& body) {
  http::Response response;
  response.status = status;
  response.body = boost::json::serialize(body);
  return response;
}

// An OpenAPI 3.1 Operation with `summary`, one tag, a JSON answer `ok` and
// the 404 / 422 problem answers.
inline std::string operation(std::string_view summary, std::string_view tag, int ok) {
  return std::string("{\"summary\":") + http::jsonQuote(summary) + ",\"tags\":[" + http::jsonQuote(tag) +
         "],\"responses\":{\"" + std::to_string(ok) +
         "\":{\"description\":\"OK\",\"content\":{\"application/json\":{}}},"
         "\"404\":{\"description\":\"Not found\",\"content\":{\"application/problem+json\":{}}},"
         "\"422\":{\"description\":\"Invalid\",\"content\":{\"application/problem+json\":{}}}}}";
}

}  // namespace hive::plugin_common
