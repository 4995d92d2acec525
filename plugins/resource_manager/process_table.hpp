// What a job's process tree uses, read from /proc, and from the job's cgroup
// v2 when it has one (task_execution_engine/job_cgroup.hpp).
//
// The tree of a job is every descendant of its supervisor (the command's
// parent): processes the command leaves behind are reparented to the
// supervisor, so they stay in the tree. CPU time counts the live processes'
// own time plus what their reaped children used (cutime/cstime, the
// supervisor's included), so a process that exited still counts once it was
// waited for. Memory is the sum of the live processes' RSS (shared pages count
// once per process: an upper bound). Open files and IO are read where /proc
// lets us (Hive's own uid, or root); `unreadable` counts the processes it
// could not read.
//
// A job in a cgroup of its own (…/hive-jobs/job-<n>): its CPU time is the
// cgroup's (cpu.stat usage_usec: every process that ever ran in it, however
// it ended), and when the memory controller is enabled for it, the cgroup's
// memory.current and memory.peak are reported beside the RSS sum.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace hive::resource_manager {

struct TreeUsage {
  std::size_t processes = 0;
  double cpuSeconds = 0;
  std::uint64_t residentBytes = 0;
  std::uint64_t openFiles = 0;
  std::uint64_t readBytes = 0;                         // storage IO, /proc/<pid>/io read_bytes
  std::uint64_t writeBytes = 0;                        // write_bytes
  std::size_t unreadable = 0;                          // processes whose fd or io could not be read
  std::string cgroup;                                  // the job's cgroup v2 path, when it has one
  std::optional<std::uint64_t> cgroupMemoryBytes;      // memory.current, with the memory controller
  std::optional<std::uint64_t> cgroupPeakMemoryBytes;  // memory.peak (Linux 5.19)
};

// One reading of every process's parent, CPU and RSS, shared by the jobs that
// ask within `maxAge` of each other: one /proc scan serves them all.
class ProcessTable {
 public:
  // `cgroupMount`: where cgroup2 is mounted (empty: cgroups are not read);
  // by default, read from <procRoot>/self/mountinfo.
  explicit ProcessTable(std::string procRoot = "/proc",
                        std::chrono::milliseconds maxAge = std::chrono::milliseconds(200),
                        std::optional<std::string> cgroupMount = std::nullopt);

  // The parent of `pid`; nullopt when it is gone.
  std::optional<pid_t> parentOf(pid_t pid);
  // The tree under `root` (root's own time and memory left out, its reaped
  // children's CPU in). nullopt when `root` is gone.
  std::optional<TreeUsage> treeUnder(pid_t root);

 private:
  struct Entry {
    pid_t parent = 0;
    double cpuSeconds = 0;          // utime + stime
    double childrenCpuSeconds = 0;  // cutime + cstime
    std::uint64_t residentBytes = 0;
  };
  using Snapshot = std::map<pid_t, Entry>;
  // Under mutex_.
  const Snapshot& fresh();
  std::optional<Entry> readStat(pid_t pid) const;
  void addFilesAndIo(pid_t pid, TreeUsage& usage) const;
  // The job cgroup of `member` (one of the tree's processes), if any.
  void addCgroup(pid_t member, TreeUsage& usage) const;

  const std::string procRoot_;
  const std::chrono::milliseconds maxAge_;
  const std::string cgroupMount_;
  const double ticksPerSecond_;
  const std::uint64_t pageBytes_;
  std::mutex mutex_;
  Snapshot snapshot_;
  std::chrono::steady_clock::time_point readAt_{};
};

// /proc/<pid>/stat's fields after the command name; exposed for the tests.
struct StatFields {
  pid_t parent = 0;
  std::uint64_t userTicks = 0, systemTicks = 0, childUserTicks = 0, childSystemTicks = 0;
  std::uint64_t residentPages = 0;
};
std::optional<StatFields> parseStat(const std::string& text);

}  // namespace hive::resource_manager
