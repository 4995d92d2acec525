#include "sandbox.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "process_pump.hpp"
#include "process_tree.hpp"

namespace hive::task_execution_engine {
namespace {

// Read-only system directories, bound when present; a top-level symlink
// (/bin -> usr/bin on merged-/usr systems) is recreated as a symlink.
constexpr const char* kSystemPaths[] = {"/usr",   "/bin",   "/sbin",   "/lib",
                                        "/lib32", "/lib64", "/libx32", "/etc"};

// Root-only secrets under /etc. The sandboxed uid maps to the host user that
// runs Hive, which owns these when Hive runs as root, so hide them.
constexpr const char* kMaskedFiles[] = {"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-",
                                        "/etc/sudoers"};
constexpr const char* kMaskedDirectories[] = {"/etc/ssh", "/etc/ssl/private", "/etc/sudoers.d", "/etc/hive"};

constexpr const char* kSandboxUid = "65534";

void systemBinds(std::vector<std::string>& out) {
  for (const char* path : kSystemPaths) {
    struct stat info {};
    if (lstat(path, &info) != 0) continue;
    if (S_ISLNK(info.st_mode)) {
      char target[4096];
      ssize_t n = readlink(path, target, sizeof target - 1);
      if (n <= 0) continue;
      out.insert(out.end(), {"--symlink", std::string(target, static_cast<std::size_t>(n)), path});
    } else if (S_ISDIR(info.st_mode)) {
      out.insert(out.end(), {"--ro-bind", path, path});
    }
  }
  for (const char* path : kMaskedFiles) {
    struct stat info {};
    if (lstat(path, &info) == 0 && S_ISREG(info.st_mode))
      out.insert(out.end(), {"--ro-bind", "/dev/null", path});
  }
  for (const char* path : kMaskedDirectories) {
    struct stat info {};
    if (lstat(path, &info) == 0 && S_ISDIR(info.st_mode)) out.insert(out.end(), {"--tmpfs", path});
  }
}

std::vector<std::string> baseArguments(const std::string& bubblewrap, Network network) {
  std::vector<std::string> out = {bubblewrap, "--unshare-all"};
  if (network == Network::kAllowed) out.emplace_back("--share-net");
  out.insert(out.end(), {"--unshare-user", "--uid", kSandboxUid, "--gid", kSandboxUid, "--cap-drop", "ALL",
                         "--die-with-parent", "--new-session"});
  systemBinds(out);
  out.insert(out.end(), {"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"});
  return out;
}

bool underSystemPath(const std::string& path) {
  for (const char* system : {"/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/etc/"})
    if (path.rfind(system, 0) == 0) return true;
  return false;
}

}  // namespace

const char* sandboxName(SandboxKind kind) {
  return kind == SandboxKind::kBubblewrap ? "bubblewrap" : "rlimits";
}

Result<Sandbox> detectSandbox(SandboxMode mode) {
  Sandbox rlimits{SandboxKind::kRlimits, "", "rlimits only (configured)"};
  if (mode == SandboxMode::kRlimits) return rlimits;

  std::string bubblewrap = findProgram("bwrap", kChildPath);
  std::string problem;
  if (bubblewrap.empty()) {
    problem = "bwrap not found in " + std::string(kChildPath);
  } else {
    // A trial run with the options every job uses: user namespaces may be
    // disabled, or a container may forbid mounting /proc.
    SpawnRequest trial;
    trial.program = bubblewrap;
    trial.arguments = baseArguments(bubblewrap, Network::kDenied);
    trial.arguments.insert(trial.arguments.end(), {"--", "/bin/sh", "-c", "exit 0"});
    trial.environment = {std::string("PATH=") + kChildPath};
    trial.workDirectory = "/";
    auto tree = ProcessTree::start(trial);
    if (!tree.ok()) {
      problem = tree.status().message();
    } else {
      PumpOptions options;
      options.outputCap = 4096;
      options.maxResultBytes = 0;
      options.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      PumpResult result = pump(**tree, options);
      if (result.ending == Ending::kExited && WIFEXITED(result.waitStatus) &&
          WEXITSTATUS(result.waitStatus) == 0)
        return Sandbox{SandboxKind::kBubblewrap, bubblewrap, "bubblewrap " + bubblewrap + " works here"};
      std::string errors = result.errors.text();
      problem = bubblewrap + " does not work here: " +
                (errors.empty() ? std::string("trial run failed") : errors.substr(0, errors.find('\n')));
    }
  }
  if (mode == SandboxMode::kBubblewrap)
    return failedPrecondition("sandbox: bubblewrap is required, but " + problem);
  return Sandbox{
      SandboxKind::kRlimits, "",
      "WEAKER SANDBOX: " + problem +
          "; children run with rlimits, a clean environment and process-tree kill only (no namespaces: "
          "host file system and network visible)"};
}

std::vector<std::string> bubblewrapArguments(const Sandbox& sandbox, const AgentSettings& agent,
                                             const WorkDirectory& work,
                                             const std::vector<std::string>& environment,
                                             const std::string& program,
                                             const std::vector<std::string>& arguments) {
  std::vector<std::string> out = baseArguments(sandbox.bubblewrap, agent.network);
  for (const std::string& path : agent.readOnlyPaths) out.insert(out.end(), {"--ro-bind", path, path});
  if (!underSystemPath(program)) out.insert(out.end(), {"--ro-bind", program, program});
  out.insert(out.end(), {"--bind", work.path, work.path});
  if (!work.gitDirectory.empty()) out.insert(out.end(), {"--bind", work.gitDirectory, work.gitDirectory});
  out.insert(out.end(), {"--chdir", work.path, "--clearenv"});
  for (const std::string& variable : environment) {
    std::size_t equals = variable.find('=');
    out.insert(out.end(), {"--setenv", variable.substr(0, equals), variable.substr(equals + 1)});
  }
  out.emplace_back("--");
  out.push_back(program);
  out.insert(out.end(), arguments.begin() + 1, arguments.end());
  return out;
}

}  // namespace hive::task_execution_engine
