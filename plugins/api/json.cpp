// The one translation unit compiling Boost.JSON for this plugin.
#include "json.hpp"

#include <algorithm>
#include <optional>

#include <boost/json/src.hpp>

namespace hive::api {

bool isJson(std::string_view text, std::string_view member, std::string* value) {
  return isJson(text, member, value, {}, nullptr);
}

bool isJson(std::string_view text, std::string_view member, std::string* value, std::string_view other,
            std::string* otherValue) {
  boost::json::parse_options options;
  options.max_depth = 64;
  boost::system::error_code error;
  boost::json::monotonic_resource resource;
  boost::json::value parsed = boost::json::parse(text, error, &resource, options);
  if (error) return false;
  auto read = [&](std::string_view name, std::string* out) {
    if (out == nullptr || !parsed.is_object()) return;
    if (const auto* found = parsed.as_object().if_contains(name); found && found->is_string())
      out->assign(found->as_string().data(), found->as_string().size());
  };
  read(member, value);
  read(other, otherValue);
  return true;
}

namespace {

// "NOT_FOUND", "INVALID_ARGUMENT": what hive::statusCodeName() gives.
bool isStatusCode(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= 'A' && c <= 'Z') || c == '_'; });
}

}  // namespace

void setProblemTitle(http::Response& response, std::string_view phrase) {
  if (response.contentType != "application/problem+json" || phrase.empty()) return;
  boost::json::parse_options options;
  options.max_depth = 64;
  boost::system::error_code error;
  boost::json::value value = boost::json::parse(response.body, error, {}, options);
  boost::json::object* object = error ? nullptr : value.if_object();
  if (object == nullptr) return;
  if (const auto* type = object->if_contains("type");
      type != nullptr && !(type->is_string() && type->get_string() == "about:blank"))
    return;  // the provider's own problem type: its title is its own
  std::optional<std::string> title;
  if (const auto* current = object->if_contains("title"); current != nullptr && current->is_string())
    title.emplace(current->get_string().data(), current->get_string().size());
  if (title && *title == phrase) return;
  if (title && isStatusCode(*title)) {
    if (!object->contains("code")) (*object)["code"] = *title;
  } else if (title && !title->empty() && !object->contains("detail")) {
    (*object)["detail"] = *title;
  }
  (*object)["title"] = boost::json::string(phrase.data(), phrase.size());
  response.body = boost::json::serialize(value);
}

}  // namespace hive::api
