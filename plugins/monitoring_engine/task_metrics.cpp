#include "task_metrics.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include <boost/json.hpp>

namespace hive::monitoring_engine {

namespace {

namespace json = boost::json;

constexpr std::array<std::string_view, 4> kFinalStatuses = {"succeeded", "failed", "cancelled", "dead"};
// The events that end an attempt, named without "task.".
constexpr std::array<std::string_view, 6> kAttemptEnds = {"succeeded", "failed",   "cancelled",
                                                          "dead",      "retrying", "timed_out"};

// Waits range from a dispatch round (milliseconds) to a queue nobody serves
// (hours); runs from a shell one-liner to a long build.
const std::vector<double> kWaitBuckets = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1,
                                          5,     10,    30,   60,   300, 900, 3600};
const std::vector<double> kRunBuckets = {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400};

std::int64_t integerAt(const json::object& task, std::string_view key) {
  const json::value* value = task.if_contains(key);
  if (value == nullptr) return 0;
  if (value->is_int64()) return value->as_int64();
  if (value->is_uint64()) return static_cast<std::int64_t>(value->as_uint64());
  return 0;
}

std::string stringAt(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : std::string();
}

// task_manager sorts a task's capabilities; its queues are keyed the same way.
std::string capabilitySet(const json::object& task) {
  std::string set;
  const json::value* list = task.if_contains("capabilities");
  if (list == nullptr || !list->is_array()) return set;
  for (const auto& item : list->as_array()) {
    if (!item.is_string()) continue;
    if (!set.empty()) set += ',';
    set += item.as_string();
  }
  return set;
}

bool waitsOnDependencies(const json::object& task) {
  const json::value* list = task.if_contains("waiting_on");
  return list != nullptr && list->is_array() && !list->as_array().empty();
}

double seconds(std::int64_t fromMs, std::int64_t toMs) {
  return static_cast<double>(std::max<std::int64_t>(0, toMs - fromMs)) / 1000.0;
}

}  // namespace

TaskMetrics::TaskMetrics(Metrics& metrics, std::shared_ptr<CapabilityLabels> labels,
                         const plugin_common::Clock& clock, std::size_t maxTracked)
    : metrics_(metrics),
      labels_(std::move(labels)),
      clock_(clock),
      maxTracked_(maxTracked),
      submitted_(metrics.counter("hive_tasks_submitted_total", "Tasks accepted by task_manager")),
      untracked_(metrics.counter("hive_tasks_untracked_total",
                                 "Waiting or running tasks left out of the queue age and run time: too many "
                                 "tracked (monitoring_engine tracked_tasks)")),
      unreadable_(
          metrics.counter("hive_task_events_unreadable_total",
                          "Events on the tasks topic that were not task events as docs/events.md says")),
      queueWait_(metrics.histogram(
          "hive_task_queue_wait_seconds",
          "Time from a task becoming claimable to its assignment to an agent, per attempt", kWaitBuckets)) {
  for (auto status : kFinalStatuses)
    finished_.emplace(status,
                      &metrics.counter("hive_tasks_finished_total", "Tasks that reached a final status",
                                       {{"status", std::string(status)}}));
  for (auto outcome : kAttemptEnds)
    runTime_.emplace(outcome,
                     &metrics.histogram("hive_task_run_seconds",
                                        "Time from an agent starting an attempt to its end, by how it ended",
                                        kRunBuckets, {{"outcome", std::string(outcome)}}));
}

void TaskMetrics::record(std::string_view payload) {
  boost::system::error_code error;
  json::value parsed = json::parse(payload, error);
  const json::object* root = !error && parsed.is_object() ? &parsed.as_object() : nullptr;
  const json::value* taskValue = root != nullptr ? root->if_contains("task") : nullptr;
  std::string event = root != nullptr ? stringAt(*root, "event") : std::string();
  if (taskValue == nullptr || !taskValue->is_object() || event.rfind("task.", 0) != 0) {
    unreadable_.increment();
    return;
  }
  const json::object& task = taskValue->as_object();
  std::string id = stringAt(task, "id");
  std::string status = stringAt(task, "status");
  if (id.empty() || status.empty()) {
    unreadable_.increment();
    return;
  }
  std::string_view change = std::string_view(event).substr(5);
  std::int64_t updated = integerAt(task, "updated_at_ms");
  std::int64_t claimable = std::max(integerAt(task, "queued_at_ms"), integerAt(task, "not_before_ms"));

  // Dead at submission (a dependency had already failed): never created first.
  if (change == "created" ||
      (change == "dead" && integerAt(task, "attempts") == 0 && integerAt(task, "created_at_ms") == updated))
    submitted_.increment();
  if (auto final = finished_.find(status); final != finished_.end()) final->second->increment();
  if (change == "assigned" && claimable > 0) queueWait_.observe(seconds(claimable, updated));

  bool waits = status == "pending" && !waitsOnDependencies(task);
  std::string label = waits && labels_->maxSets() != 0 ? labels_->label(capabilitySet(task)) : std::string();
  Histogram* ran = nullptr;
  double ranFor = 0;
  bool dropped = false;
  {
    std::lock_guard lock(mutex_);
    if (waits) {
      if (auto found = waiting_.find(id); found != waiting_.end())
        found->second = {std::move(label), claimable};
      else if (waiting_.size() < maxTracked_)
        waiting_.emplace(id, Waiting{std::move(label), claimable});
      else
        dropped = true;
    } else {
      waiting_.erase(id);
    }
    if (status == "running") {
      std::int64_t started = integerAt(task, "started_at_ms");
      if (running_.count(id) == 0 && running_.size() >= maxTracked_)
        dropped = true;
      else
        running_[id] = started;
    } else if (auto found = running_.find(id); found != running_.end()) {
      // The attempt that was running ended here (or its end was missed, and
      // this is a later attempt's assignment: nothing to measure then).
      if (auto outcome = runTime_.find(change); outcome != runTime_.end()) {
        ran = outcome->second;
        ranFor = seconds(found->second, updated);
      }
      running_.erase(found);
    }
  }
  if (ran != nullptr) ran->observe(ranFor);
  if (dropped) untracked_.increment();
}

void TaskMetrics::sampleAges() {
  if (labels_->maxSets() == 0) return;
  std::map<std::string, std::int64_t> oldest;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, waiting] : waiting_) {
      auto [at, added] = oldest.emplace(waiting.label, waiting.sinceMs);
      if (!added) at->second = std::min(at->second, waiting.sinceMs);
    }
  }
  std::int64_t now = clock_.nowMs();
  for (const auto& label : labels_->known()) {
    auto found = oldest.find(label);
    metrics_
        .gauge("hive_tasks_queue_age_seconds",
               "How long the oldest claimable task of a capability set has waited (0: none waits)",
               {{"capabilities", label}})
        .set(found == oldest.end() ? 0 : seconds(found->second, now));
  }
}

std::size_t TaskMetrics::waiting() const {
  std::lock_guard lock(mutex_);
  return waiting_.size();
}

std::size_t TaskMetrics::running() const {
  std::lock_guard lock(mutex_);
  return running_.size();
}

}  // namespace hive::monitoring_engine
