#include "task_template.hpp"

#include <algorithm>
#include <string_view>

namespace hive::workflow_engine {

namespace json = boost::json;

std::string pointerToken(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

namespace {

bool isTaskType(std::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-';
  });
}

bool isCapability(std::string_view text) {
  if (text.empty() || text.size() > 32) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

}  // namespace

bool parseTaskTemplate(const json::value& value, const std::string& at, TaskTemplate& out,
                       std::vector<http::FieldError>& errors) {
  if (!value.is_object()) {
    errors.push_back({at, "must be an object with at least a type"});
    return false;
  }
  const std::size_t before = errors.size();
  const json::object& task = value.get_object();
  for (const auto& [key, item] : task)
    if (key != "type" && key != "capabilities" && key != "payload" && key != "priority" &&
        key != "timeout_seconds" && key != "retries")
      errors.push_back({at + "/" + pointerToken(key), "unknown field"});
  const json::value* type = task.if_contains("type");
  if (type == nullptr)
    errors.push_back({at + "/type", "is required"});
  else if (!type->is_string() || !isTaskType(type->get_string()))
    errors.push_back({at + "/type", "must be 1-64 characters of a-z, 0-9, '_', '.', ':', '-'"});
  else
    out.type = std::string(type->get_string());
  if (const json::value* capabilities = task.if_contains("capabilities")) {
    if (!capabilities->is_array() || capabilities->get_array().size() > 64) {
      errors.push_back({at + "/capabilities", "must be an array of at most 64 names"});
    } else {
      for (std::size_t i = 0; i < capabilities->get_array().size(); ++i) {
        const json::value& name = capabilities->get_array()[i];
        if (!name.is_string() || !isCapability(name.get_string()))
          errors.push_back(
              {at + "/capabilities/" + std::to_string(i), "must be 1-32 characters of a-z, 0-9, '_', '-'"});
        else
          out.capabilities.emplace_back(name.get_string());
      }
    }
  }
  if (const json::value* payload = task.if_contains("payload")) out.payload = *payload;
  if (const json::value* priority = task.if_contains("priority")) {
    bool ok =
        (priority->is_int64() && priority->get_int64() >= 1 && priority->get_int64() <= 10) ||
        (priority->is_string() && (priority->get_string() == "LOW" || priority->get_string() == "MEDIUM" ||
                                   priority->get_string() == "HIGH" || priority->get_string() == "CRITICAL"));
    if (!ok)
      errors.push_back({at + "/priority", "must be an integer 1-10 or LOW, MEDIUM, HIGH, CRITICAL"});
    else
      out.priority = *priority;
  }
  if (const json::value* timeout = task.if_contains("timeout_seconds")) {
    if (!timeout->is_int64() || timeout->get_int64() < 1 || timeout->get_int64() > 30 * 24 * 3600)
      errors.push_back({at + "/timeout_seconds", "must be an integer from 1 to 2592000"});
    else
      out.timeoutSeconds = timeout->get_int64();
  }
  if (const json::value* retries = task.if_contains("retries")) {
    if (!retries->is_int64() || retries->get_int64() < 0 || retries->get_int64() > 100)
      errors.push_back({at + "/retries", "must be an integer from 0 to 100"});
    else
      out.retries = retries->get_int64();
  }
  return errors.size() == before;
}

json::object submissionBody(const TaskTemplate& task, std::string title) {
  json::object body;
  body["type"] = task.type;
  body["title"] = std::move(title);
  if (!task.capabilities.empty()) {
    json::array capabilities;
    for (const auto& name : task.capabilities) capabilities.push_back(json::string(name));
    body["capabilities"] = std::move(capabilities);
  }
  if (task.payload) body["payload"] = *task.payload;
  if (task.priority) body["priority"] = *task.priority;
  if (task.timeoutSeconds > 0) body["timeout_seconds"] = task.timeoutSeconds;
  if (task.retries >= 0) body["max_attempts"] = task.retries + 1;
  return body;
}

}  // namespace hive::workflow_engine
