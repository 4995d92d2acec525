#include "sandbox.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "process_pump.hpp"
#include "process_tree.hpp"
#include "seccomp_filter.hpp"

namespace hive::task_execution_engine {
namespace {

// Read-only system directories, bound when present; a top-level symlink
// (/bin -> usr/bin on merged-/usr systems) is recreated as a symlink.
constexpr const char* kSystemPaths[] = {"/usr",   "/bin",   "/sbin",   "/lib",
                                        "/lib32", "/lib64", "/libx32", "/etc"};

// Secrets under /etc, hidden even though the job's uid cannot read them when
// Hive runs as root: a non-root Hive's jobs run as Hive's own user, and a
// file readable by that user must not be handed to the job.
constexpr const char* kMaskedFiles[] = {"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-",
                                        "/etc/sudoers"};
constexpr const char* kMaskedDirectories[] = {"/etc/ssh", "/etc/ssl/private", "/etc/sudoers.d", "/etc/hive"};

// The uid and gid the job has inside its user namespace.
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
  // Empty, tiny and read-only: a writable tmpfs would be host RAM without a bound.
  for (const char* path : kMaskedDirectories) {
    struct stat info {};
    if (lstat(path, &info) == 0 && S_ISDIR(info.st_mode))
      out.insert(out.end(), {"--size", "4096", "--tmpfs", path, "--remount-ro", path});
  }
}

std::vector<std::string> baseArguments(const std::string& bubblewrap, Network network,
                                       std::uint64_t tmpBytes) {
  std::vector<std::string> out = {bubblewrap, "--unshare-all"};
  if (network == Network::kAllowed) out.emplace_back("--share-net");
  out.insert(out.end(), {"--unshare-user", "--uid", kSandboxUid, "--gid", kSandboxUid, "--cap-drop", "ALL",
                         "--die-with-parent", "--new-session"});
  systemBinds(out);
  // bwrap's /dev is a tmpfs the job owns, /dev/shm in it a plain directory:
  // both would hold as much host RAM as the job writes. /dev becomes
  // read-only (its device nodes still work) and /dev/shm gets a sized tmpfs
  // of its own, like /tmp.
  std::string size = std::to_string(tmpBytes);
  out.insert(out.end(), {"--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev", "--size", size,
                         "--tmpfs", "/dev/shm", "--size", size, "--tmpfs", "/tmp"});
  return out;
}

// The identity jobs run as. Hive as root must hand jobs to a uid and gid that
// no account has: a job's files and processes then belong to no one else,
// and RLIMIT_NPROC counts only jobs.
Result<std::optional<Identity>> sandboxIdentity(const Settings& settings) {
  if (geteuid() != 0) return std::optional<Identity>();
  char buffer[16384];
  passwd user{};
  passwd* foundUser = nullptr;
  getpwuid_r(settings.sandboxUid, &user, buffer, sizeof buffer, &foundUser);
  if (foundUser != nullptr)
    return failedPrecondition("sandbox: sandbox_uid " + std::to_string(settings.sandboxUid) + " is user '" +
                              foundUser->pw_name +
                              "'; jobs need a uid that no account uses (set sandbox_uid)");
  group team{};
  group* foundGroup = nullptr;
  getgrgid_r(settings.sandboxGid, &team, buffer, sizeof buffer, &foundGroup);
  if (foundGroup != nullptr)
    return failedPrecondition("sandbox: sandbox_gid " + std::to_string(settings.sandboxGid) + " is group '" +
                              foundGroup->gr_name +
                              "'; jobs need a gid that no group uses (set sandbox_gid)");
  return std::optional<Identity>(Identity{settings.sandboxUid, settings.sandboxGid});
}

// Runs `arguments` once as a job would. Empty when it exits 0, else why not.
std::string trialRun(const std::string& program, std::vector<std::string> arguments, const Sandbox& sandbox) {
  SpawnRequest trial;
  trial.program = program;
  trial.arguments = std::move(arguments);
  trial.environment = {std::string("PATH=") + kChildPath};
  trial.workDirectory = "/";
  trial.identity = sandbox.identity;
  trial.seccomp = &sandbox.seccomp;
  auto tree = ProcessTree::start(trial);
  if (!tree.ok()) return tree.status().message();
  PumpOptions options;
  options.outputCap = 4096;
  options.maxResultBytes = 0;
  options.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  PumpResult result = pump(**tree, options);
  if (result.ending == Ending::kExited && WIFEXITED(result.waitStatus) && WEXITSTATUS(result.waitStatus) == 0)
    return {};
  if (result.ending == Ending::kExecFailed)
    return std::string("cannot start: ") + std::strerror(result.execErrno);
  std::string errors = result.errors.text();
  return errors.empty() ? std::string("trial run failed") : errors.substr(0, errors.find('\n'));
}

std::string identityName(const Sandbox& sandbox) {
  return sandbox.identity ? "uid " + std::to_string(sandbox.identity->uid) + " gid " +
                                std::to_string(sandbox.identity->gid)
                          : "Hive's own uid " + std::to_string(geteuid()) + " (Hive is not root)";
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

Result<Sandbox> detectSandbox(const Settings& settings) {
  Sandbox sandbox;
  sandbox.identity = HIVE_TRY(sandboxIdentity(settings));
  sandbox.seccomp = HIVE_TRY(buildSeccompFilter(), "sandbox");
  std::string who = identityName(sandbox);

  // Even the weakest mode switches identity and loads the filter: if that
  // cannot work here, no job can run as configured.
  if (std::string problem = trialRun("/bin/sh", {"sh", "-c", "exit 0"}, sandbox); !problem.empty())
    return failedPrecondition("sandbox: a job cannot start as " + who + ": " + problem);
  if (settings.sandbox == SandboxMode::kRlimits) {
    sandbox.note = "rlimits only (configured); jobs run as " + who;
    return sandbox;
  }

  std::string bubblewrap = findProgram("bwrap", kChildPath);
  std::string problem;
  if (bubblewrap.empty()) {
    problem = "bwrap not found in " + std::string(kChildPath);
  } else {
    // A trial run with the options every job uses, as the job's uid: user
    // namespaces may be disabled for unprivileged users (root could still
    // make them, but jobs must not run as root), or a container may forbid
    // mounting /proc.
    std::vector<std::string> arguments = baseArguments(bubblewrap, Network::kDenied, 1 << 20);
    arguments.insert(arguments.end(), {"--", "/bin/sh", "-c", "exit 0"});
    std::string failure = trialRun(bubblewrap, std::move(arguments), sandbox);
    if (failure.empty()) {
      sandbox.kind = SandboxKind::kBubblewrap;
      sandbox.bubblewrap = bubblewrap;
      sandbox.note = "bubblewrap " + bubblewrap + " works here; jobs run as " + who;
      return sandbox;
    }
    problem = bubblewrap + " does not work here as " + who + ": " + failure;
  }
  if (settings.sandbox == SandboxMode::kBubblewrap)
    return failedPrecondition("sandbox: bubblewrap is required, but " + problem);
  sandbox.note = "WEAKER SANDBOX: " + problem + "; children run as " + who +
                 " with rlimits, a clean environment and process-tree kill only (no namespaces: "
                 "host file system and network visible)";
  return sandbox;
}

std::vector<std::string> bubblewrapArguments(const Sandbox& sandbox, const AgentSettings& agent,
                                             const WorkDirectory& work,
                                             const std::vector<std::string>& environment,
                                             const std::string& program,
                                             const std::vector<std::string>& arguments) {
  std::vector<std::string> out = baseArguments(sandbox.bubblewrap, agent.network, agent.limits.tmpBytes);
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
