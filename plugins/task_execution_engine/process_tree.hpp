// Starts a command as a tree of processes that can be killed as a whole.
//
// The host forks a small supervising process, which becomes a child subreaper
// (PR_SET_CHILD_SUBREAPER) and forks the command in a session of its own, with
// rlimits set and a clean signal state. Every process the command leaves
// behind — even one that did setsid() and a double fork — is reparented to the
// supervisor instead of init, so when the command ends, or the host asks with
// SIGTERM, or the host thread that started it dies (PR_SET_PDEATHSIG), the
// supervisor kills the command's process group and every descendant it finds
// until it has none left, then reports and exits.
//
// Before it execs, the command child drops what it must not keep, in this
// order: rlimits (RLIMIT_NPROC included, set while still privileged), the
// supplementary groups, gid and uid when the request names an identity (Hive
// running as root hands the job to a dedicated unprivileged uid: see
// sandbox.hpp), no_new_privs, and the seccomp filter. The supervisor keeps
// Hive's identity so that it can always kill the tree.
//
// Between fork and exec only async-signal-safe calls run (raw system calls,
// no allocation): everything the children need is prepared before the fork.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config.hpp"
#include "hive/status.hpp"

namespace hive::task_execution_engine {

// The uid and gid a command runs as, when it must not run as Hive's.
struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
};

struct SpawnRequest {
  std::string program;                   // absolute path passed to execve
  std::vector<std::string> arguments;    // argv, argv[0] included
  std::vector<std::string> environment;  // "NAME=value": the whole environment
  std::string workDirectory;             // chdir() before exec
  Limits limits;
  std::optional<Identity> identity;  // switch to it before exec (Hive must be root)
  // A classic BPF seccomp program installed (with no_new_privs) just before
  // exec; empty for none. Must outlive start().
  const std::vector<sock_filter>* seccomp = nullptr;
  // The job's cgroup (job_cgroup.hpp), or -1: its cgroup.procs, which the
  // command child writes itself into before anything else, and its
  // cgroup.kill (-1 when the kernel has none), which the supervisor writes
  // when it kills the tree. Must stay open until start() returns.
  int cgroupProcsFd = -1;
  int cgroupKillFd = -1;
};

// What the supervisor reports on the status pipe, in order.
enum class SupervisorEvent : std::int32_t {
  kStarted = 1,     // value: the command's pid
  kExecFailed = 2,  // value: errno of the failed step (chdir, execve, fork)
  kExited = 3,      // value: the command's wait status
};

struct SupervisorRecord {
  SupervisorEvent event;
  std::int32_t value;
};

class ProcessTree {
 public:
  // Forks the supervisor; the command starts in it. Non-blocking pipes: write
  // the input to stdinFd(), read stdoutFd()/stderrFd() until EOF and the
  // records from statusFd() until EOF (the supervisor has then exited).
  static Result<std::unique_ptr<ProcessTree>> start(const SpawnRequest& request);

  ~ProcessTree();  // kills the tree if still running, reaps the supervisor
  ProcessTree(const ProcessTree&) = delete;
  ProcessTree& operator=(const ProcessTree&) = delete;

  int stdinFd() const { return stdin_; }
  int stdoutFd() const { return stdout_; }
  int stderrFd() const { return stderr_; }
  int statusFd() const { return status_; }
  void closeStdin();
  void closeStdout();
  void closeStderr();
  void closeStatus();

  pid_t supervisorPid() const { return supervisor_; }
  // Asks the supervisor to kill the whole tree (SIGTERM); it then reports kExited
  // if the command had started, and exits.
  void terminate();
  // Last resort when the supervisor does not answer: SIGKILL to it.
  void forceKill();
  // Reaps the supervisor (blocking). Idempotent.
  void reap();

 private:
  ProcessTree() = default;

  pid_t supervisor_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  int stderr_ = -1;
  int status_ = -1;
  bool reaped_ = false;
};

// Resolves a program name the way execvp would with `path` (a PATH value);
// a name containing '/' is taken as it is. Empty when not found or not executable.
std::string findProgram(const std::string& name, const std::string& path);

}  // namespace hive::task_execution_engine
