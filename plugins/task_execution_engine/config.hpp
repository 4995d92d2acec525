// task_execution_engine's `config:` section, read and validated once in configure().
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hive/config.hpp"

namespace hive::task_execution_engine {

enum class SandboxMode { kAuto, kBubblewrap, kRlimits };

enum class Network { kDenied, kAllowed };

inline constexpr std::uint64_t kDefaultProcesses = 256;
inline constexpr std::uint64_t kDefaultTmpBytes = std::uint64_t{64} << 20;
inline constexpr std::uint64_t kDefaultDiskBytes = std::uint64_t{10} << 30;

// Resource limits set with setrlimit() in the child before it execs (an unset
// rlimit is inherited from the host), and the sandbox's own bounds.
struct Limits {
  std::optional<std::uint64_t> cpuSeconds;     // RLIMIT_CPU: SIGXCPU at the limit
  std::optional<std::uint64_t> memoryBytes;    // RLIMIT_AS
  std::optional<std::uint64_t> fileSizeBytes;  // RLIMIT_FSIZE: SIGXFSZ past it; default disk_bytes
  std::optional<std::uint64_t> openFiles;      // RLIMIT_NOFILE
  // RLIMIT_NPROC: processes (threads included) of the job's uid at once.
  std::optional<std::uint64_t> processes = kDefaultProcesses;
  std::uint64_t tmpBytes = kDefaultTmpBytes;    // size of each of the sandbox's tmpfs /tmp and /dev/shm
  std::uint64_t diskBytes = kDefaultDiskBytes;  // bytes the work directory may hold (measured)
  std::uint64_t outputBytes = 1 << 20;          // kept of stdout, and of stderr; the rest is discarded
};

struct AgentSettings {
  std::string name;
  std::vector<std::string> command;  // argv; command[0] is a path or a name looked up in the child's PATH
  std::vector<std::string> capabilities;
  std::string workspace;  // absolute
  std::uint32_t maxConcurrency = 1;
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  Network network = Network::kDenied;
  bool gitWorktree = false;
  std::map<std::string, std::string> environment;  // the only variables besides PATH, HOME, LANG
  std::vector<std::string> readOnlyPaths;          // extra read-only binds under bubblewrap
  Limits limits;
};

// The uid/gid jobs run as when Hive runs as root: a range no account uses
// (Debian gives out uids up to 59999 and subordinate ranges from 100000 in
// steps of 65536; systemd's container ranges end at 1879048191).
inline constexpr std::uint32_t kDefaultSandboxId = 1'900'000'000;

struct Settings {
  SandboxMode sandbox = SandboxMode::kAuto;
  // `cgroups: auto`: each job in a cgroup v2 of its own where possible (job_cgroup.hpp).
  bool jobCgroups = true;
  std::uint32_t sandboxUid = kDefaultSandboxId;
  std::uint32_t sandboxGid = kDefaultSandboxId;
  // Finished task directories older than this are removed; 0: right after the job.
  std::chrono::milliseconds workspaceRetention{std::chrono::hours(24)};
  std::vector<AgentSettings> agents;
};

// Bounds on what the section may ask for.
inline constexpr std::size_t kMaxAgents = 256;
inline constexpr std::uint32_t kMaxConcurrency = 1024;
inline constexpr std::size_t kMaxArguments = 256;
inline constexpr std::size_t kMaxArgumentBytes = std::size_t{64} * 1024;
inline constexpr std::size_t kMaxEnvironment = 256;
inline constexpr std::uint64_t kMaxOutputBytes = 256ull << 20;
inline constexpr std::uint64_t kMaxProcesses = std::uint64_t{1} << 22;  // the kernel's pid_max
inline constexpr std::chrono::milliseconds kMaxRetention = std::chrono::hours(24 * 365);

// Reads `section` into Settings; every problem goes into `diagnostics` with its location.
Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics);

// [A-Za-z0-9_-]{1,64}
bool isValidName(const std::string& name);

}  // namespace hive::task_execution_engine
