#include "cancel_watch.hpp"

#include <boost/json.hpp>

#include "plugin_common/trace_context.hpp"

namespace hive::orchestrator {

namespace {
// task_manager's event for a cancellation.
constexpr std::string_view kCancelledEvent = "task.cancelled";
// Every state change of every task is published on it, one event each.
constexpr std::string_view kTasksTopic = "tasks";
}  // namespace

CancelWatch::CancelWatch(PluginContext& context, OnCancelled onCancelled)
    : onCancelled_(std::move(onCancelled)),
      events_(context.services(), [this](bus::Bus& bus) { return subscribe(bus); }) {}

CancelWatch::~CancelWatch() { stop(); }

// Without a bus now, the follower subscribes when one appears.
void CancelWatch::start() { (void)events_.start(); }

void CancelWatch::stop() { events_.stop(); }

std::unique_ptr<Subscription> CancelWatch::subscribe(bus::Bus& bus) {
  return bus.subscribe(std::string(kTasksTopic), [this](const bus::Event& event) {
    std::string taskId = cancelledTaskId(event.payload);
    if (taskId.empty()) return;
    remember(taskId);
    onCancelled_(taskId, plugin_common::traceparentIn(event.payload));
  });
}

std::string CancelWatch::cancelledTaskId(std::string_view payload) {
  // Every task event passes here, thousands a second under load: only one that
  // names the cancellation is parsed (a payload quoting it merely costs a parse).
  if (payload.find(kCancelledEvent) == std::string_view::npos) return {};
  std::error_code ec;
  boost::json::value parsed = boost::json::parse(payload, ec);
  if (ec || !parsed.is_object()) return {};
  const auto& event = parsed.as_object();
  const auto* name = event.if_contains("event");
  const auto* task = event.if_contains("task");
  if (name == nullptr || !name->is_string() || name->as_string() != kCancelledEvent) return {};
  if (task == nullptr || !task->is_object()) return {};
  const auto* id = task->as_object().if_contains("id");
  if (id == nullptr || !id->is_string()) return {};
  return std::string(id->as_string());
}

void CancelWatch::remember(const std::string& taskId) {
  std::lock_guard lock(recentMutex_);
  if (!recent_.insert(taskId).second) return;
  recentOrder_.push_back(taskId);
  if (recentOrder_.size() > kRemembered) {
    recent_.erase(recentOrder_.front());
    recentOrder_.pop_front();
  }
}

bool CancelWatch::recentlyCancelled(const std::string& taskId) const {
  std::lock_guard lock(recentMutex_);
  return recent_.count(taskId) != 0;
}

}  // namespace hive::orchestrator
