// The sandbox a process agent's child runs in.
//
// bubblewrap: new user, pid, mount, ipc, uts, cgroup and network namespaces
// (the network one only when the agent may not use the network), running as
// uid/gid 65534 with no capabilities; the system directories read-only, a
// private /tmp, /proc and /dev, the work directory the only writable host path.
// rlimits: the same process tree, rlimits and clean environment, but no
// namespaces: the child sees the host's file system and network as the host's
// user does. Used when bubblewrap is missing or does not work on this machine.
#pragma once

#include <string>
#include <vector>

#include "config.hpp"
#include "hive/status.hpp"
#include "work_directory.hpp"

namespace hive::task_execution_engine {

enum class SandboxKind { kBubblewrap, kRlimits };

struct Sandbox {
  SandboxKind kind = SandboxKind::kRlimits;
  std::string bubblewrap;  // path of bwrap when kind is kBubblewrap
  std::string note;        // why this kind was chosen, for the log
};

// auto: bubblewrap when `bwrap` is found and a trial run of it works, else
// rlimits. bubblewrap: the same trial, and an error when it fails.
Result<Sandbox> detectSandbox(SandboxMode mode);

const char* sandboxName(SandboxKind kind);

// argv for bwrap running `program` with `arguments` (argv[0] included) in the
// sandbox for `agent` and `work`, with exactly `environment` ("NAME=value").
std::vector<std::string> bubblewrapArguments(const Sandbox& sandbox, const AgentSettings& agent,
                                             const WorkDirectory& work,
                                             const std::vector<std::string>& environment,
                                             const std::string& program,
                                             const std::vector<std::string>& arguments);

}  // namespace hive::task_execution_engine
