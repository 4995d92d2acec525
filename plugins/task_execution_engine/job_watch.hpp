// Asks hive.job_watch/1 (resource_manager) about each running job when a
// provider of it runs: a job over one of its quotas is then ended like one
// over a limit of ours (its tree killed, kLimitExceeded with the watcher's
// reason). Without a provider, a job costs one registry lookup per check.
// The lease is taken per call, never kept: a job may run for hours and must
// not hold a swap of resource_manager back.
#pragma once

#include <string>

#include "hive/services.hpp"
#include "hive/services/job_watch.hpp"

namespace hive::task_execution_engine {

class JobWatch {
 public:
  explicit JobWatch(ServiceRegistry& services) : services_(services) {}

  std::string check(const jobs::WatchedJob& job) {
    if (job.pid <= 0) return {};  // not started yet
    auto watcher = services_.get<jobs::JobWatcher>();
    return watcher.ok() ? (*watcher)->check(job) : std::string();
  }
  void ended(const jobs::WatchedJob& job) {
    if (auto watcher = services_.get<jobs::JobWatcher>(); watcher.ok()) (*watcher)->ended(job);
  }

 private:
  ServiceRegistry& services_;
};

}  // namespace hive::task_execution_engine
