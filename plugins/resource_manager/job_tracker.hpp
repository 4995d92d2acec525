// hive.job_watch/1: the running jobs of process agents, what each uses
// (sampled from /proc each time the executor asks, about every 500 ms), and
// the quota check that ends a job over its quota with a reason naming the
// quota and the figure. Finished jobs leave a summary (peak memory, CPU),
// the most recent `keep_finished` of them kept for GET /api/v2/resources.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config.hpp"
#include "hive/metrics.hpp"
#include "hive/services/job_watch.hpp"
#include "plugin_common/clock.hpp"
#include "process_table.hpp"

namespace hive::resource_manager {

struct JobRecord {
  jobs::WatchedJob job;
  Quota quota;
  pid_t supervisor = 0;  // the tree's root, 0 until found
  TreeUsage usage;       // the last sample
  std::uint64_t peakResidentBytes = 0;
  std::uint64_t peakOpenFiles = 0;
  std::int64_t sampledAtMs = 0;
  std::int64_t endedAtMs = 0;  // finished jobs
  std::string stoppedFor;      // the quota breach that ended it; empty otherwise
};

class JobTracker final : public jobs::JobWatcher {
 public:
  // Owns what it reads: the executor may call it after the plugin stopped
  // (while it holds a lease), so nothing of the plugin object is used.
  JobTracker(const Settings& settings, Metrics& metrics, std::shared_ptr<ProcessTable> processes,
             std::shared_ptr<const plugin_common::Clock> clock);

  // hive::jobs::JobWatcher
  std::string check(const jobs::WatchedJob& job) override;
  void ended(const jobs::WatchedJob& job) override;

  std::vector<JobRecord> running() const;
  std::vector<JobRecord> finished() const;  // newest first
  std::optional<JobRecord> find(const std::string& taskId) const;
  const Settings& settings() const { return settings_; }

 private:
  struct Breach {
    std::string quota;   // its config key: the metric's label
    std::string reason;  // the task's error
  };
  // The quota `record` is over now; nullopt when none.
  std::optional<Breach> breach(const JobRecord& record, std::int64_t now) const;
  void publishAgentGauges(const std::string& agent);  // under mutex_

  const Settings settings_;
  Metrics& metrics_;
  const std::shared_ptr<ProcessTable> processes_;
  const std::shared_ptr<const plugin_common::Clock> clock_;
  mutable std::mutex mutex_;
  std::map<std::string, JobRecord> running_;  // task id →
  std::deque<JobRecord> finished_;
};

}  // namespace hive::resource_manager
