// The W3C trace context (`traceparent`) of a task, as task_manager puts it on
// the task (docs/observability.md §11): read from a task's JSON text, and the
// trace id that log lines about the task carry, so that a line in Hive's log
// leads to the task's trace and back.
#pragma once

#include <string>
#include <string_view>

namespace hive::plugin_common {

// Whether `value` is a well-formed version-00 traceparent:
// 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>, lower case.
inline bool isTraceparent(std::string_view value) {
  if (value.size() != 55) return false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    bool dash = i == 2 || i == 35 || i == 52;
    char c = value[i];
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The task's traceparent, or "" when it has none or it is not well formed.
// The input is task_manager's serialisation of the task (a job's input, an
// event's body), read as text: a payload holding the same key can choose the
// value, which its submitter could do anyway with the header; only a
// well-formed value is returned.
inline std::string traceparentIn(std::string_view taskJson) {
  constexpr std::string_view kKey = "\"traceparent\":\"";
  auto at = taskJson.rfind(kKey);
  if (at == std::string_view::npos || taskJson.size() <= at + kKey.size() + 55 ||
      taskJson[at + kKey.size() + 55] != '"')
    return {};
  std::string_view value = taskJson.substr(at + kKey.size(), 55);
  return isTraceparent(value) ? std::string(value) : std::string();
}

// " trace_id=<32 hex>" for a log line about a task with this traceparent;
// "" without one.
inline std::string traceLogField(std::string_view traceparent) {
  if (!isTraceparent(traceparent)) return {};
  return " trace_id=" + std::string(traceparent.substr(3, 32));
}

}  // namespace hive::plugin_common
