#include "task_metrics.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include "plugin_common/task_event.hpp"

namespace hive::monitoring_engine {

namespace {

constexpr std::array<std::string_view, 4> kFinalStatuses = {"succeeded", "failed", "cancelled", "dead"};
// The events that end an attempt, named without "task.".
constexpr std::array<std::string_view, 6> kAttemptEnds = {"succeeded", "failed",   "cancelled",
                                                          "dead",      "retrying", "timed_out"};

// Waits range from a dispatch round (milliseconds) to a queue nobody serves
// (hours); runs from a shell one-liner to a long build.
const std::vector<double> kWaitBuckets = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1,
                                          5,     10,    30,   60,   300, 900, 3600};
const std::vector<double> kRunBuckets = {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400};

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
    runTime_.emplace(outcome, &metrics.histogram(
                                  "hive_task_run_seconds",
                                  "Time from an agent starting an attempt (or from its assignment, when the "
                                  "start came with the end) to its end, by how it ended",
                                  kRunBuckets, {{"outcome", std::string(outcome)}}));
}

void TaskMetrics::record(std::string_view payload) {
  auto read = plugin_common::readTaskEvent(payload);
  if (!read) {
    unreadable_.increment();
    return;
  }
  const plugin_common::TaskEvent& task = *read;
  const std::string& change = task.event;
  const std::string& id = task.id;
  const std::string& status = task.status;
  std::int64_t updated = task.updatedAtMs;
  std::int64_t claimable = std::max(task.queuedAtMs, task.notBeforeMs);

  // Dead at submission (a dependency had already failed): never created first.
  if (change == "created" || (change == "dead" && task.attempts == 0 && task.createdAtMs == updated))
    submitted_.increment();
  if (auto final = finished_.find(status); final != finished_.end()) final->second->increment();
  if (change == "assigned" && claimable > 0) queueWait_.observe(seconds(claimable, updated));

  bool waits = status == "pending" && !task.waitsOnDependencies;
  std::string label = waits && labels_->maxSets() != 0 ? labels_->label(task.capabilities) : std::string();
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
    if (change == "assigned") {
      if (assigned_.count(id) == 0 && assigned_.size() >= maxTracked_)
        dropped = true;
      else
        assigned_[id] = updated;
    }
    auto assigned = assigned_.find(id);
    if (status == "running") {
      if (assigned != assigned_.end()) assigned_.erase(assigned);
      if (running_.count(id) == 0 && running_.size() >= maxTracked_)
        dropped = true;
      else
        running_[id] = task.startedAtMs;
    } else if (assigned != assigned_.end() && change != "assigned") {
      // Ended without a `running` of its own: a run from its assignment when
      // the agent reported its outcome (not when it timed out, was released
      // or cancelled before it started).
      if (change == "succeeded" || change == "failed") {
        ran = runTime_.find(change)->second;
        ranFor = seconds(assigned->second, updated);
      }
      assigned_.erase(assigned);
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
