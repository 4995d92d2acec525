// The task series, recorded from task_manager's events on the bus (topic
// `tasks`, docs/events.md) so that task_manager itself records nothing:
//
//   hive_tasks_submitted_total                  task.created, or dead at submission
//   hive_tasks_finished_total{status}           succeeded, failed, cancelled, dead
//   hive_task_queue_wait_seconds                claimable (queued_at / not_before) → task.assigned, per
//   attempt hive_task_run_seconds{outcome}              running → the end of that attempt
//   hive_tasks_queue_age_seconds{capabilities}  age of the oldest claimable task, set by sampleAges()
//
// Run time and queue age need to know which tasks are running or waiting:
// they are tracked by id here, from the events, up to `maxTracked` of each
// (beyond it new ones are not tracked, and hive_tasks_untracked_total counts
// them). A task that was waiting or running before this generation
// subscribed is learnt from its next event (task.aged reaches waiting tasks
// every aging period). No series has a task id in its labels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "capability_labels.hpp"
#include "hive/metrics.hpp"
#include "plugin_common/clock.hpp"

namespace hive::monitoring_engine {

class TaskMetrics {
 public:
  TaskMetrics(Metrics& metrics, std::shared_ptr<CapabilityLabels> labels, const plugin_common::Clock& clock,
              std::size_t maxTracked);

  // One event payload of topic `tasks`. Thread-safe; a payload that is not a
  // task event is ignored (and counted in hive_task_events_unreadable_total).
  void record(std::string_view payload);
  // Sets hive_tasks_queue_age_seconds for every capability label known.
  void sampleAges();

  // Tracked tasks now, for tests.
  std::size_t waiting() const;
  std::size_t running() const;

 private:
  struct Waiting {
    std::string label;
    std::int64_t sinceMs = 0;
  };

  Metrics& metrics_;
  const std::shared_ptr<CapabilityLabels> labels_;
  const plugin_common::Clock& clock_;
  const std::size_t maxTracked_;
  Counter& submitted_;
  Counter& untracked_;
  Counter& unreadable_;
  Histogram& queueWait_;
  std::map<std::string, Counter*, std::less<>> finished_;   // by final status
  std::map<std::string, Histogram*, std::less<>> runTime_;  // by outcome
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Waiting> waiting_;       // task id →
  std::unordered_map<std::string, std::int64_t> running_;  // task id → started_at_ms
  // Task id → when its attempt was assigned, until it runs: an attempt whose
  // start came with its end (the agent's accept and result in one burst: no
  // `running` of its own) ran from its assignment when the agent reported it.
  std::unordered_map<std::string, std::int64_t> assigned_;
};

}  // namespace hive::monitoring_engine
