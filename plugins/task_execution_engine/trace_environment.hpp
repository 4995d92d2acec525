// TRACEPARENT for a job: the W3C trace context of its task (task_manager puts
// it on the task, which is the job's input), so that a command that traces
// can continue the task's trace without parsing its stdin first.
#pragma once

#include <string>
#include <string_view>

namespace hive::task_execution_engine {

// The task's traceparent, or "" when it has none or it is not well formed.
// The input is task_manager's serialisation, read as text: a payload holding
// the same key can choose the value, which its submitter could do anyway with
// the header; only a well-formed value is passed on.
inline std::string traceparentOf(std::string_view taskJson) {
  constexpr std::string_view kKey = "\"traceparent\":\"";
  auto at = taskJson.rfind(kKey);
  if (at == std::string_view::npos || taskJson.size() < at + kKey.size() + 55) return {};
  std::string_view value = taskJson.substr(at + kKey.size(), 55);
  if (taskJson.size() <= at + kKey.size() + 55 || taskJson[at + kKey.size() + 55] != '"') return {};
  for (std::size_t i = 0; i < value.size(); ++i) {
    bool dash = i == 2 || i == 35 || i == 52;
    char c = value[i];
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return {};
  }
  return std::string(value);
}

}  // namespace hive::task_execution_engine
