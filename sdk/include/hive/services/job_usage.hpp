// hive.job_usage/1 (SDK 2.8) — what the job of a process-agent task uses or
// used: CPU time, memory, open files, IO. Provided by the plugin that watches
// the jobs (resource_manager, which also provides hive.job_watch/1); read by
// the plugin that runs them for task_manager (the orchestrator), which puts
// the figures on the task, so that a client sees them there while the job
// runs and after it ended.
//
//   auto usage = context.services().get<hive::jobs::UsageReader>();
//   if (usage.ok())
//     if (std::string figures = (*usage)->usage(taskId); !figures.empty())
//       ...  // a JSON object: {"cpu_seconds": 1.5, "peak_resident_bytes": ...}
//
// Without a provider no figures are known.
#pragma once

#include <string>

#include "hive/services.hpp"

namespace hive::jobs {

class UsageReader : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.job_usage", 1};

  // The last sample of the job of task `taskId` as a JSON object (the fields
  // of GET /api/v2/resources/tasks/{id}: cpu_seconds, resident_bytes,
  // peak_resident_bytes, open_files, read_bytes, write_bytes, processes,
  // sampled_at_ms, and for a finished job ended_at_ms and stopped_for), while
  // the job runs and for a while after it ended; "" when no job of that task
  // was sampled. Quick (no I/O) and thread-safe.
  virtual std::string usage(const std::string& taskId) = 0;
};

}  // namespace hive::jobs
