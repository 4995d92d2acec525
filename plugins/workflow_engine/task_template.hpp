// A task template: what a workflow step or a schedule submits to task_manager
// (POST /api/v2/tasks). Parsed and checked here, for both.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "hive/services/http.hpp"

namespace hive::workflow_engine {

struct TaskTemplate {
  std::string type;
  std::vector<std::string> capabilities;
  std::optional<boost::json::value> payload;   // a step's may hold ${...} placeholders
  std::optional<boost::json::value> priority;  // as task_manager takes it: 1-10 or a name
  std::int64_t timeoutSeconds = 0;             // 0: task_manager's default
  std::int64_t retries = -1;                   // -1: task_manager's default attempts
};

// `value` at JSON pointer `at`: {type, capabilities, payload, priority,
// timeout_seconds, retries}. Every problem goes to `errors`; false when any.
bool parseTaskTemplate(const boost::json::value& value, const std::string& at, TaskTemplate& out,
                       std::vector<http::FieldError>& errors);

// A key as a JSON pointer token (RFC 6901: "~" and "/" escaped), for the
// places of errors.
std::string pointerToken(std::string_view key);

// The body of POST /api/v2/tasks for it, its payload as is.
boost::json::object submissionBody(const TaskTemplate& task, std::string title);

}  // namespace hive::workflow_engine
