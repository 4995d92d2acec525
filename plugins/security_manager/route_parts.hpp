// What security_manager's routes share: JSON answers, the OpenAPI operation
// of a route, and a request body read as a JSON object of known members.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "hive/services/http.hpp"
#include "key_service.hpp"

namespace hive::security_manager {

inline http::Response jsonResponse(int status, std::string body) {
  http::Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

// An OpenAPI operation of tag `tag`, with the 401 and 403 every route may answer.
inline std::string operation(std::string_view tag, std::string_view summary, std::string_view id,
                             std::string_view extra, std::string_view responses) {
  return std::string("{\"summary\":") + http::jsonQuote(summary) + ",\"operationId\":" + http::jsonQuote(id) +
         ",\"tags\":[" + http::jsonQuote(tag) + "]" + std::string(extra) + ",\"responses\":{" +
         std::string(responses) +
         ",\"401\":{\"description\":\"No or bad credentials\",\"content\":{\"application/problem+json\":{}}}"
         ",\"403\":{\"description\":\"Not allowed\",\"content\":{\"application/problem+json\":{}}}}}";
}

// `text` as a JSON object; a member not in `known` is a field error in
// `refusal` (the object is still returned). nullopt, with refusal.status
// kInvalidArgument, when it is not a JSON object.
inline std::optional<boost::json::object> objectBody(const std::string& text,
                                                     std::initializer_list<std::string_view> known,
                                                     Refusal& refusal) {
  boost::json::error_code error;
  boost::json::value parsed = boost::json::parse(text, error);
  if (error || !parsed.is_object()) {
    refusal.status = invalidArgument("the body must be a JSON object");
    return std::nullopt;
  }
  for (const auto& member : parsed.get_object())
    if (std::find(known.begin(), known.end(), member.key()) == known.end())
      refusal.errors.push_back({"/" + std::string(member.key()), "unknown field"});
  return std::move(parsed.get_object());
}

}  // namespace hive::security_manager
