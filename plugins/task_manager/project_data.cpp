#include "project_data.hpp"

#include <algorithm>
#include <charconv>

#include <boost/json.hpp>

#include "hive/services/store_erasure.hpp"
#include "json.hpp"
#include "plugin_common/json_text.hpp"
#include "records.hpp"

namespace hive::task_manager {
namespace {

namespace json = boost::json;

// Events read per store call, and at most this many per export page or erasure batch.
constexpr std::size_t kEventBatch = 1000;
constexpr std::size_t kEventsPerPage = 20 * kEventBatch;
// Passes over a project's tasks while erasing: each cancels what runs and
// deletes what finished; a task that settles between the two goes in the next.
constexpr int kErasePasses = 5;

bool owns(const EventOwner& owner, std::string_view tenant, std::string_view project) {
  return owner.tenant == tenant && owner.project == project;
}

std::string eventLine(const store::Event& event) {
  return plugin_common::withRawMembers(
      json::serialize(json::object{
          {"kind", "task_event"}, {"id", event.id}, {"type", event.type}, {"at_ms", event.timestampMs}}),
      {{"event", event.body}});
}

}  // namespace

Result<TaskPage> ProjectTasks::tasksOf(std::string_view tenant, std::string_view project,
                                       const std::string& cursor, std::size_t limit) {
  std::map<std::string, std::string> equals{{"project", std::string(project)}};
  if (!tenant.empty()) equals["tenant"] = std::string(tenant);
  auto page = HIVE_TRY(tasks_->list(equals, std::clamp<std::size_t>(limit, 1, kTaskPage), cursor));
  std::erase_if(page.items, [&](const Task& task) { return task.tenant != tenant; });
  return page;
}

Result<projects::ExportPage> ProjectTasks::exportPage(std::string_view tenant, std::string_view project,
                                                      std::string_view cursor, std::size_t limit) {
  if (cursor.starts_with("e:")) {
    std::uint64_t after = 0;
    auto digits = cursor.substr(2);
    if (std::from_chars(digits.data(), digits.data() + digits.size(), after).ec != std::errc{})
      return invalidArgument("bad export cursor");
    return exportEvents(tenant, project, after, limit);
  }
  if (!cursor.empty() && !cursor.starts_with("t:")) return invalidArgument("bad export cursor");
  std::string taskCursor(cursor.empty() ? std::string_view() : cursor.substr(2));
  projects::ExportPage out;
  while (out.lines.size() < limit) {
    auto page = HIVE_TRY(tasksOf(tenant, project, taskCursor, limit - out.lines.size()));
    for (const auto& task : page.items)
      out.lines.push_back(plugin_common::withRawMembers(json::serialize(json::object{{"kind", "task"}}),
                                                        {{"task", toApiJson(task)}}));
    taskCursor = page.nextCursor;
    if (taskCursor.empty()) break;
  }
  out.next = taskCursor.empty() ? "e:0" : "t:" + taskCursor;
  return out;
}

Result<projects::ExportPage> ProjectTasks::exportEvents(std::string_view tenant, std::string_view project,
                                                        std::uint64_t after, std::size_t limit) {
  projects::ExportPage out;
  std::size_t scanned = 0;
  while (out.lines.size() < limit && scanned < kEventsPerPage) {
    auto events = HIVE_TRY(tasks_->events(after, kEventBatch));
    for (std::size_t i = 0; i < events.size() && out.lines.size() < limit; ++i, ++scanned) {
      after = events[i].id;
      if (owns(eventOwner(events[i].body), tenant, project)) out.lines.push_back(eventLine(events[i]));
    }
    bool whole = out.lines.size() < limit || after == events.back().id;
    if (events.size() < kEventBatch && whole) return out;  // the end of the log: no next page
  }
  out.next = "e:" + std::to_string(after);
  return out;
}

Result<std::uint64_t> ProjectTasks::erase(std::string_view tenant, std::string_view project) {
  // Checked first: an erasure that could not reach the events changes nothing.
  ServiceLease eraser = HIVE_TRY(eventEraser());
  std::uint64_t erased = 0;
  for (int pass = 0; pass < kErasePasses; ++pass) {
    std::size_t seen = 0;
    std::string cursor;
    do {
      auto page = HIVE_TRY(tasksOf(tenant, project, cursor, kTaskPage));
      std::vector<std::string> ids;
      for (const auto& task : page.items) {
        ids.push_back(task.id);
        if (isTerminal(task.status)) continue;
        // What runs or waits is cancelled first (an agent that holds it is told), then deleted.
        auto cancelled = tasks_->cancel(task.id);
        if (!cancelled.ok() && cancelled.status().code() != StatusCode::kFailedPrecondition &&
            cancelled.status().code() != StatusCode::kNotFound)
          return cancelled.status();
      }
      seen += ids.size();
      erased += HIVE_TRY(tasks_->eraseFinished(ids));
      cursor = page.nextCursor;
    } while (!cursor.empty());
    if (seen == 0) break;
  }
  HIVE_TRY(eraseEvents(static_cast<store::Erasure&>(*eraser.service), tenant, project));
  context_.log().info("project '" + std::string(project) + "'" +
                      (tenant.empty() ? "" : " of tenant '" + std::string(tenant) + "'") + ": " +
                      std::to_string(erased) + " tasks and their events erased");
  return erased;
}

Result<ServiceLease> ProjectTasks::eventEraser() {
  auto store = HIVE_TRY(tasks_->store());
  for (auto& lease : context_.services().lookup(store::Erasure::kServiceId))
    if (lease.provider == store.provider()) return std::move(lease);
  return failedPrecondition("the store (" + store.provider() +
                            ") cannot erase events (no hive.store_erasure/1): nothing was erased");
}

Status ProjectTasks::eraseEvents(store::Erasure& eraser, std::string_view tenant, std::string_view project) {
  std::uint64_t after = 0;
  std::vector<std::uint64_t> ids;
  while (true) {
    auto events = HIVE_TRY(tasks_->events(after, kEventBatch));
    for (const auto& event : events) {
      after = event.id;
      if (owns(eventOwner(event.body), tenant, project)) ids.push_back(event.id);
    }
    bool last = events.size() < kEventBatch;
    if (ids.size() >= kEventsPerPage / 2 || (last && !ids.empty())) {
      HIVE_TRY(eraser.eraseEvents(kEventLog, ids));
      ids.clear();
    }
    if (last) return okStatus();
  }
}

}  // namespace hive::task_manager
