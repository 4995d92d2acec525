// hive.job_watch/1 — watches the jobs of process agents while they run: what
// they use (CPU time, memory, open files) and whether they stay within their
// quotas. Provided by resource_manager; asked by the provider of
// hive.executor/1 (task_execution_engine) for each job it runs, when a
// provider of this service is running. Without one, jobs run unwatched.
#pragma once

#include <cstdint>
#include <string>

#include "hive/services.hpp"

namespace hive::jobs {

// A job as the executor knows it.
struct WatchedJob {
  std::string agent;   // the process agent's configured name
  std::string taskId;  // [A-Za-z0-9_-]{1,64}
  // The job's command. Its process tree is every descendant of the command's
  // parent (the executor's supervising process, a child subreaper: processes
  // the command leaves behind are reparented to it, not to init).
  std::int64_t pid = 0;
  std::int64_t startedAtMs = 0;  // wall clock, ms since the Unix epoch
};

class JobWatcher : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.job_watch", 1};

  // Called on the job's own thread about every 500 ms while it runs. An empty
  // answer lets it go on; any other answer is why it must stop: the executor
  // kills its whole process tree and the job ends as over a limit
  // (exec::OutcomeKind::kLimitExceeded) with this text as its reason, which
  // becomes the task's error. So name the quota and the figure. Must answer
  // quickly (read /proc, never wait on a server); thread-safe.
  virtual std::string check(const WatchedJob& job) = 0;
  // The job ended, whatever its outcome; its process tree is gone.
  virtual void ended(const WatchedJob& job) = 0;
};

}  // namespace hive::jobs
