#include "job_usage.hpp"

namespace hive::resource_manager {

namespace json = boost::json;

json::object quotaJson(const Quota& q) {
  json::object out;
  if (q.memoryBytes != 0) out["memory_bytes"] = q.memoryBytes;
  if (q.cpuSeconds != 0) out["cpu_seconds"] = q.cpuSeconds;
  if (q.openFiles != 0) out["open_files"] = q.openFiles;
  if (q.wallTime.count() != 0) out["wall_time_ms"] = q.wallTime.count();
  return out;
}

json::object jobJson(const JobRecord& r) {
  json::object out{{"agent", r.job.agent},
                   {"task_id", r.job.taskId},
                   {"pid", r.job.pid},
                   {"started_at_ms", r.job.startedAtMs},
                   {"sampled_at_ms", r.sampledAtMs},
                   {"processes", r.usage.processes},
                   {"cpu_seconds", r.usage.cpuSeconds},
                   {"resident_bytes", r.usage.residentBytes},
                   {"peak_resident_bytes", r.peakResidentBytes},
                   {"open_files", r.usage.openFiles},
                   {"peak_open_files", r.peakOpenFiles},
                   {"read_bytes", r.usage.readBytes},
                   {"write_bytes", r.usage.writeBytes},
                   {"unreadable_processes", r.usage.unreadable},
                   {"quota", quotaJson(r.quota)}};
  if (!r.usage.cgroup.empty()) out["cgroup"] = r.usage.cgroup;
  if (r.usage.cgroupMemoryBytes) out["cgroup_memory_bytes"] = *r.usage.cgroupMemoryBytes;
  if (r.usage.cgroupPeakMemoryBytes) out["cgroup_peak_memory_bytes"] = *r.usage.cgroupPeakMemoryBytes;
  if (r.endedAtMs != 0) out["ended_at_ms"] = r.endedAtMs;
  if (!r.stoppedFor.empty()) out["stopped_for"] = r.stoppedFor;
  return out;
}

}  // namespace hive::resource_manager
