// What a job's process tree uses, read from /proc (cgroup v2 would be exact
// and cheaper, but jobs do not get a cgroup of their own today: the executor
// starts them as a process tree under a supervising subreaper, see
// task_execution_engine/process_tree.hpp).
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
  std::uint64_t readBytes = 0;   // storage IO, /proc/<pid>/io read_bytes
  std::uint64_t writeBytes = 0;  // write_bytes
  std::size_t unreadable = 0;    // processes whose fd or io could not be read
};

// One reading of every process's parent, CPU and RSS, shared by the jobs that
// ask within `maxAge` of each other: one /proc scan serves them all.
class ProcessTable {
 public:
  explicit ProcessTable(std::string procRoot = "/proc",
                        std::chrono::milliseconds maxAge = std::chrono::milliseconds(200));

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

  const std::string procRoot_;
  const std::chrono::milliseconds maxAge_;
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
