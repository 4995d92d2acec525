#include "json.hpp"

#include <boost/json.hpp>

#include "plugin_common/json_text.hpp"

namespace hive::task_manager {
namespace json = boost::json;

std::string eventJson(std::string_view event, const Task& task) {
  // A top-level "tenant": who may see the event (the api's WebSocket hub, GET /api/v2/tasks/events).
  json::object head{{"event", event}};
  if (!task.tenant.empty()) head["tenant"] = task.tenant;
  if (!task.project.empty()) head["project"] = task.project;
  return plugin_common::withRawMembers(json::serialize(head), {{"task", toEventJson(task)}});
}

std::string staleReportJson(const Task& task, const std::string& report) {
  json::object o{{"event", "task.stale_report"}, {"task_id", task.id}, {"report", report}};
  if (!task.tenant.empty()) o["tenant"] = task.tenant;
  if (!task.project.empty()) o["project"] = task.project;
  return json::serialize(o);
}

std::string statsJson(const TaskStats& stats) {
  json::object byStatus;
  for (const auto& [status, count] : stats.byStatus) byStatus[statusName(status)] = count;
  json::array queues;
  for (const auto& q : stats.queues) {
    json::object byPriority;
    std::uint64_t total = 0;
    for (const auto& [priority, count] : q.byPriority) {
      byPriority[std::to_string(priority)] = count;
      total += count;
    }
    queues.push_back(json::object{
        {"capabilities", q.capabilities}, {"waiting", total}, {"by_priority", std::move(byPriority)}});
  }
  return json::serialize(json::object{{"by_status", std::move(byStatus)}, {"queues", std::move(queues)}});
}

namespace {
// `items` (raw JSON texts) as the array member "items" of `object`.
std::string withItems(json::object object, const std::vector<std::string>& items) {
  std::string array = "[";
  for (std::size_t i = 0; i < items.size(); ++i) (array += i ? "," : "") += items[i];
  array += "]";
  return plugin_common::withRawMembers(json::serialize(object), {{"items", array}});
}
}  // namespace

EventOwner eventOwner(const std::string& body) {
  if (body.find("\"tenant\"") == std::string::npos && body.find("\"project\"") == std::string::npos)
    return {};
  boost::system::error_code error;
  json::value parsed = json::parse(body, error);
  if (error || !parsed.is_object()) return {};
  auto field = [&](const char* name) {
    const json::value* value = parsed.as_object().if_contains(name);
    return value && value->is_string() ? std::string(value->as_string()) : std::string();
  };
  return {field("tenant"), field("project")};
}

std::string eventPageJson(const std::vector<store::Event>& events, std::uint64_t lastId, bool trimmed) {
  std::vector<std::string> items;
  items.reserve(events.size());
  for (const auto& e : events)
    items.push_back(plugin_common::withRawMembers(
        json::serialize(json::object{{"id", e.id}, {"type", e.type}, {"ts", e.timestampMs}}),
        {{"data", e.body}}));
  json::object page{{"last_id", lastId}};
  if (trimmed) page["trimmed"] = true;
  return withItems(std::move(page), items);
}

std::string taskPageJson(const TaskPage& page) {
  std::vector<std::string> items;
  items.reserve(page.items.size());
  for (const auto& task : page.items) items.push_back(toApiJson(task));
  json::object object;
  if (!page.nextCursor.empty()) object["next_cursor"] = page.nextCursor;
  return withItems(std::move(object), items);
}

}  // namespace hive::task_manager
