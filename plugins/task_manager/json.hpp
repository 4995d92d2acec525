// Every JSON text task_manager writes besides a task itself (task_model.hpp),
// rendered with Boost.JSON. What a client sent (payload, result, progress) and
// what the event log holds are spliced in as they are, never re-encoded.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hive/services/store.hpp"
#include "task_model.hpp"

namespace hive::task_manager {

// {"event": "task.assigned", "task": {...}}: a state change, as the event log
// and the bus carry it.
std::string eventJson(std::string_view event, const Task& task);
// {"event": "task.stale_report", "task_id": ..., "report": ..., "tenant"?, "project"?}.
std::string staleReportJson(const Task& task, const std::string& report);
// {"by_status": {...}, "queues": [{"capabilities", "waiting", "by_priority"}]}.
std::string statsJson(const TaskStats& stats);
// {"items": [{"id", "type", "ts", "data"}], "last_id"}: a page of the event log after `after`.
// `lastId`: the last id read, shown or not, where the next page starts.
// `trimmed`: events after the caller's `after` were trimmed before it read them.
std::string eventPageJson(const std::vector<store::Event>& events, std::uint64_t lastId, bool trimmed);
// An event body's top-level "tenant" and "project" ("" when none).
struct EventOwner {
  std::string tenant;
  std::string project;
};
EventOwner eventOwner(const std::string& body);
// {"items": [task...], "next_cursor"?}.
std::string taskPageJson(const TaskPage& page);

}  // namespace hive::task_manager
