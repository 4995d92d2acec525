// The sandbox a process agent's child runs in.
//
// Whatever the mode, when Hive runs as root the command child switches to a
// dedicated unprivileged uid/gid (`sandbox_uid`/`sandbox_gid`, which no
// account may use) before it execs: the job never holds Hive's uid. It then
// runs with no_new_privs, no capabilities, RLIMIT_NPROC counting the
// processes of that uid, and the seccomp filter of seccomp_filter.hpp. When
// Hive is not root it cannot switch: the job runs as Hive's own uid (see
// docs/process-agents.md, "Threat model").
//
// bubblewrap: new user, pid, mount, ipc, uts, cgroup and network namespaces
// (the network one only when the agent may not use the network), running as
// uid/gid 65534 inside, which the kernel maps to the uid that started bwrap
// (the sandbox uid, or Hive's); no capabilities; the system directories
// read-only, a size-limited private /tmp and /dev/shm, a read-only /dev, the
// work directory the only writable host path; every bind is nosuid.
// rlimits: the same process tree, identity, rlimits, filter and clean
// environment, but no namespaces: the child sees the host's file system and
// network as the sandbox uid (or Hive's user) does. Used when bubblewrap is
// missing or does not work on this machine.
#pragma once

#include <linux/filter.h>

#include <optional>
#include <string>
#include <vector>

#include "config.hpp"
#include "hive/status.hpp"
#include "process_tree.hpp"
#include "work_directory.hpp"

namespace hive::task_execution_engine {

enum class SandboxKind { kBubblewrap, kRlimits };

struct Sandbox {
  SandboxKind kind = SandboxKind::kRlimits;
  std::string bubblewrap;            // path of bwrap when kind is kBubblewrap
  std::optional<Identity> identity;  // the uid/gid jobs switch to; none when Hive is not root
  std::vector<sock_filter> seccomp;  // see seccomp_filter.hpp
  std::string note;                  // why this kind was chosen, for the log
  std::string jobCgroups;            // where jobs' cgroups are made (job_cgroup.hpp); empty: none
};

// Builds the filter and checks the identity, then, for `auto` and
// `bubblewrap`, runs bwrap once as a job would (as the sandbox uid, filter
// included). auto: bubblewrap when that works, else rlimits with a WEAKER
// SANDBOX note. bubblewrap: an error when it does not. Every error is one line
// that says why (a sandbox uid some account owns, bwrap failing as that uid).
Result<Sandbox> detectSandbox(const Settings& settings);

const char* sandboxName(SandboxKind kind);

// argv for bwrap running `program` with `arguments` (argv[0] included) in the
// sandbox for `agent` and `work`, with exactly `environment` ("NAME=value").
std::vector<std::string> bubblewrapArguments(const Sandbox& sandbox, const AgentSettings& agent,
                                             const WorkDirectory& work,
                                             const std::vector<std::string>& environment,
                                             const std::string& program,
                                             const std::vector<std::string>& arguments);

}  // namespace hive::task_execution_engine
