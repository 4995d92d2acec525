#include "job_tracker.hpp"

#include "figures.hpp"

namespace hive::resource_manager {

JobTracker::JobTracker(const Settings& settings, Metrics& metrics, std::shared_ptr<ProcessTable> processes,
                       std::shared_ptr<const plugin_common::Clock> clock)
    : settings_(settings), metrics_(metrics), processes_(std::move(processes)), clock_(std::move(clock)) {}

std::optional<JobTracker::Breach> JobTracker::breach(const JobRecord& r, std::int64_t now) const {
  const Quota& q = r.quota;
  const std::string whose = " (resource_manager quota for process agent '" + r.job.agent + "')";
  if (q.memoryBytes != 0 && r.usage.residentBytes > q.memoryBytes)
    return Breach{"memory_bytes",
                  "memory quota exceeded: its processes held " + std::to_string(r.usage.residentBytes) +
                      " bytes (" + mebibytes(r.usage.residentBytes) +
                      ") resident, the limit memory_bytes is " + std::to_string(q.memoryBytes) + " (" +
                      mebibytes(q.memoryBytes) + ")" + whose};
  if (q.cpuSeconds != 0 && r.usage.cpuSeconds > static_cast<double>(q.cpuSeconds))
    return Breach{"cpu_seconds", "CPU quota exceeded: its processes used " + secondsText(r.usage.cpuSeconds) +
                                     " of CPU, the limit cpu_seconds is " + std::to_string(q.cpuSeconds) +
                                     whose};
  if (q.openFiles != 0 && r.usage.openFiles > q.openFiles)
    return Breach{"open_files",
                  "open files quota exceeded: its processes held " + std::to_string(r.usage.openFiles) +
                      " file descriptors, the limit open_files is " + std::to_string(q.openFiles) + whose};
  if (q.wallTime.count() != 0 && now - r.job.startedAtMs > q.wallTime.count())
    return Breach{"wall_time", "wall time quota exceeded: it ran " + std::to_string(now - r.job.startedAtMs) +
                                   " ms, the limit wall_time is " + std::to_string(q.wallTime.count()) +
                                   " ms" + whose};
  return std::nullopt;
}

std::string JobTracker::check(const jobs::WatchedJob& job) {
  std::int64_t now = clock_->nowMs();
  pid_t supervisor = 0;
  {
    std::lock_guard lock(mutex_);
    auto [at, added] = running_.try_emplace(job.taskId);
    if (added) {
      at->second.job = job;
      at->second.quota = quotaFor(settings_, job.agent);
    }
    supervisor = at->second.supervisor;
  }
  if (supervisor == 0) {
    // The command's parent is the executor's supervising subreaper; found
    // once, while the command still runs (its orphans stay under it after).
    auto parent = processes_->parentOf(static_cast<pid_t>(job.pid));
    if (!parent) return {};
    supervisor = *parent;
  }
  auto usage = processes_->treeUnder(supervisor);

  std::lock_guard lock(mutex_);
  auto at = running_.find(job.taskId);
  if (at == running_.end() || !usage) return {};  // ended meanwhile, or the tree is gone
  JobRecord& r = at->second;
  r.supervisor = supervisor;
  double cpuBefore = r.usage.cpuSeconds;
  r.usage = *usage;
  // A process that exited but was not waited for yet is in nobody's figures
  // for a moment: CPU never goes back.
  if (r.usage.cpuSeconds < cpuBefore) r.usage.cpuSeconds = cpuBefore;
  r.peakResidentBytes = std::max(r.peakResidentBytes, r.usage.residentBytes);
  r.peakOpenFiles = std::max(r.peakOpenFiles, r.usage.openFiles);
  r.sampledAtMs = now;
  metrics_
      .counter("hive_resource_job_cpu_seconds_total", "CPU time used by jobs of process agents",
               {{"agent", job.agent}})
      .increment(r.usage.cpuSeconds - cpuBefore);
  publishAgentGauges(job.agent);
  if (auto over = breach(r, now)) {
    r.stoppedFor = over->reason;
    metrics_
        .counter("hive_resource_quota_kills_total", "Jobs of process agents ended for going over a quota",
                 {{"agent", job.agent}, {"quota", over->quota}})
        .increment();
  }
  return r.stoppedFor;
}

void JobTracker::ended(const jobs::WatchedJob& job) {
  std::lock_guard lock(mutex_);
  auto at = running_.find(job.taskId);
  if (at == running_.end()) return;
  JobRecord record = std::move(at->second);
  running_.erase(at);
  record.endedAtMs = clock_->nowMs();
  publishAgentGauges(job.agent);
  if (settings_.keepFinished == 0) return;
  finished_.push_front(std::move(record));
  while (finished_.size() > settings_.keepFinished) finished_.pop_back();
}

void JobTracker::publishAgentGauges(const std::string& agent) {
  double resident = 0, files = 0, processes = 0;
  for (const auto& [taskId, r] : running_) {
    if (r.job.agent != agent) continue;
    resident += static_cast<double>(r.usage.residentBytes);
    files += static_cast<double>(r.usage.openFiles);
    processes += static_cast<double>(r.usage.processes);
  }
  metrics_
      .gauge("hive_resource_job_resident_bytes", "Resident memory of the running jobs of a process agent",
             {{"agent", agent}})
      .set(resident);
  metrics_
      .gauge("hive_resource_job_open_files", "File descriptors open in the running jobs of a process agent",
             {{"agent", agent}})
      .set(files);
  metrics_
      .gauge("hive_resource_job_processes", "Processes in the running jobs of a process agent",
             {{"agent", agent}})
      .set(processes);
}

std::vector<JobRecord> JobTracker::running() const {
  std::lock_guard lock(mutex_);
  std::vector<JobRecord> out;
  for (const auto& [taskId, r] : running_) out.push_back(r);
  return out;
}

std::vector<JobRecord> JobTracker::finished() const {
  std::lock_guard lock(mutex_);
  return {finished_.begin(), finished_.end()};
}

std::optional<JobRecord> JobTracker::find(const std::string& taskId) const {
  std::lock_guard lock(mutex_);
  if (auto at = running_.find(taskId); at != running_.end()) return at->second;
  for (const auto& r : finished_)
    if (r.job.taskId == taskId) return r;
  return std::nullopt;
}

}  // namespace hive::resource_manager
