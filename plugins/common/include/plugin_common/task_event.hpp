// A task event of task_manager (docs/events.md: topic `tasks`, payload
// {"event": "task.…", "task": {…}}) read for the fields the plugins that
// follow tasks from the bus need (monitoring_engine's task series,
// optimization_engine's run times). Header-only, shared by in-tree plugins
// (not SDK); users link Boost::json.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

namespace hive::plugin_common {

struct TaskEvent {
  std::string event;  // without "task.": "created", "running", "succeeded", …
  std::string id;
  std::string type;
  std::string status;
  std::string agent;         // empty when none holds it
  std::string capabilities;  // the required set, comma-separated as task_manager keys its queues
  bool waitsOnDependencies = false;
  std::int64_t attempts = 0;
  std::int64_t createdAtMs = 0;
  std::int64_t updatedAtMs = 0;
  std::int64_t queuedAtMs = 0;
  std::int64_t notBeforeMs = 0;
  std::int64_t startedAtMs = 0;
  std::int64_t finishedAtMs = 0;
  std::string traceparent;  // W3C trace context; empty when the task has none
  std::string error;
};

namespace task_event_detail {

inline std::string text(const boost::json::object& object, std::string_view key) {
  const boost::json::value* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : std::string();
}

inline std::int64_t integer(const boost::json::object& object, std::string_view key) {
  const boost::json::value* value = object.if_contains(key);
  if (value == nullptr) return 0;
  if (value->is_int64()) return value->as_int64();
  if (value->is_uint64()) return static_cast<std::int64_t>(value->as_uint64());
  return 0;
}

}  // namespace task_event_detail

// nullopt for anything that is not a task event with an id and a status.
inline std::optional<TaskEvent> readTaskEvent(std::string_view payload) {
  using task_event_detail::integer;
  using task_event_detail::text;
  boost::system::error_code error;
  boost::json::value parsed = boost::json::parse(payload, error);
  if (error || !parsed.is_object()) return std::nullopt;
  const boost::json::value* taskValue = parsed.as_object().if_contains("task");
  if (taskValue == nullptr || !taskValue->is_object()) return std::nullopt;
  const boost::json::object& task = taskValue->as_object();
  TaskEvent out;
  out.event = text(parsed.as_object(), "event");
  if (out.event.rfind("task.", 0) != 0) return std::nullopt;
  out.event.erase(0, 5);
  out.id = text(task, "id");
  out.status = text(task, "status");
  if (out.id.empty() || out.status.empty()) return std::nullopt;
  out.type = text(task, "type");
  out.agent = text(task, "agent");
  out.traceparent = text(task, "traceparent");
  out.error = text(task, "error");
  if (const boost::json::value* list = task.if_contains("capabilities"); list != nullptr && list->is_array())
    for (const auto& item : list->as_array()) {
      if (!item.is_string()) continue;
      if (!out.capabilities.empty()) out.capabilities += ',';
      out.capabilities += item.as_string();
    }
  const boost::json::value* waiting = task.if_contains("waiting_on");
  out.waitsOnDependencies = waiting != nullptr && waiting->is_array() && !waiting->as_array().empty();
  out.attempts = integer(task, "attempts");
  out.createdAtMs = integer(task, "created_at_ms");
  out.updatedAtMs = integer(task, "updated_at_ms");
  out.queuedAtMs = integer(task, "queued_at_ms");
  out.notBeforeMs = integer(task, "not_before_ms");
  out.startedAtMs = integer(task, "started_at_ms");
  out.finishedAtMs = integer(task, "finished_at_ms");
  return out;
}

}  // namespace hive::plugin_common
