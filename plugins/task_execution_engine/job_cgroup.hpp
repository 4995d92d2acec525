// A cgroup v2 of its own for each job, where the host lets Hive make one.
//
// The command child moves itself into its job's cgroup before it execs (while
// it may still write there), so the cgroup holds exactly the job's processes,
// whatever they fork and wherever they are reparented; the supervisor stays
// outside and, when the tree must die, writes "1" to the cgroup's cgroup.kill
// (Linux 5.14) before its own kill-every-descendant loop. resource_manager
// reads the cgroup's own accounting when it finds one (cpu.stat counts every
// process that ever ran in it; memory.current the tree's memory, when the
// memory controller is enabled for it).
//
// Where: `<cgroup2 mount><Hive's own cgroup>/hive-jobs/job-<n>`. On a host
// with cgroup v2 (or v1 with the v2 hierarchy mounted, as "hybrid" systemd
// does) that is writable by Hive: root, or a delegated subtree (systemd
// Delegate=yes). Anywhere else jobs run without one, as before.
#pragma once

#include <memory>
#include <string>

#include "hive/status.hpp"

namespace hive::task_execution_engine {

inline constexpr const char* kJobCgroupsDirectory = "hive-jobs";

// The directory job cgroups are made in, made if absent; an error saying why
// cgroup v2 cannot be used here. `mountinfo` and `selfCgroup` are the /proc
// files read (for the tests).
Result<std::string> prepareJobCgroups(const std::string& mountinfo = "/proc/self/mountinfo",
                                      const std::string& selfCgroup = "/proc/self/cgroup");

// One job's cgroup: made by create(), removed when destroyed (once its
// processes are gone).
class JobCgroup {
 public:
  static Result<std::unique_ptr<JobCgroup>> create(const std::string& parent);
  ~JobCgroup();
  JobCgroup(const JobCgroup&) = delete;
  JobCgroup& operator=(const JobCgroup&) = delete;

  const std::string& path() const { return path_; }
  int procsFd() const { return procs_; }  // cgroup.procs, open for writing
  int killFd() const { return kill_; }    // cgroup.kill, open for writing; -1 before Linux 5.14

 private:
  JobCgroup() = default;
  std::string path_;
  int procs_ = -1;
  int kill_ = -1;
};

}  // namespace hive::task_execution_engine
