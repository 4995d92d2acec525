// Small pieces of a plugin's REST routes: a JSON answer and the OpenAPI
// fragment of a route. Header-only, shared by in-tree plugins (not part of the SDK).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

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

// Adds `route` to `table` with a blocking `handler` that runs through
// `background` (the blocking executor, counted for the drain); when that
// refuses (the plugin is being replaced) the answer is 503 from `plugin`.
inline void addBlockingRoute(http::RouteTable& table, std::function<bool(std::function<void()>)> background,
                             std::string plugin, http::Route route,
                             std::function<http::Response(const http::Request&)> handler) {
  table.add(std::move(route), [background = std::move(background), plugin = std::move(plugin),
                               handler = std::move(handler)](http::Request request, http::Responder respond) {
    auto shared =
        std::make_shared<std::pair<http::Request, http::Responder>>(std::move(request), std::move(respond));
    if (!background([shared, handler] { shared->second(handler(shared->first)); }))
      shared->second(http::problem(503, "Service Unavailable", plugin + " is being replaced; retry"));
  });
}

}  // namespace hive::plugin_common
