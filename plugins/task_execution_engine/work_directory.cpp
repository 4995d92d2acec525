#include "work_directory.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "process_pump.hpp"
#include "process_tree.hpp"
#include "work_tree.hpp"

namespace hive::task_execution_engine {
namespace {

Status makeDirectory(const std::string& path, mode_t mode = 0755) {
  if (mkdir(path.c_str(), mode) == 0 || errno == EEXIST) {
    struct stat info {};
    if (stat(path.c_str(), &info) != 0) return unavailable(path + ": " + std::strerror(errno));
    if (!S_ISDIR(info.st_mode)) return failedPrecondition(path + ": exists and is not a directory");
    return okStatus();
  }
  return unavailable("cannot create " + path + ": " + std::strerror(errno));
}

// Sets owner and mode of a directory Hive made, refusing a symlink.
Status secureDirectory(const std::string& path, uid_t uid, gid_t gid, mode_t mode) {
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode))
    return failedPrecondition(path + ": is not a directory (a symlink?); refusing to use it");
  if ((info.st_uid != uid || info.st_gid != gid) && lchown(path.c_str(), uid, gid) != 0)
    return unavailable("cannot give " + path + " to " + std::to_string(uid) + ":" + std::to_string(gid) +
                       ": " + std::strerror(errno));
  if ((info.st_mode & 07777) != mode && chmod(path.c_str(), mode) != 0)
    return unavailable("cannot chmod " + path + ": " + std::strerror(errno));
  return okStatus();
}

// The task's directory is bound writable into the sandbox: it must be a real
// directory, not a symlink someone planted to get another path bound
// instead. It belongs to the job (everything in it too: a retry may come
// after the sandbox uid changed) and no one else may enter it.
Status makeTaskDirectory(const std::string& path, const std::optional<Identity>& identity) {
  HIVE_TRY(makeDirectory(path, 0700));
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode))
    return failedPrecondition(path + ": is not a directory (a symlink?); refusing to use it");
  uid_t uid = identity ? identity->uid : geteuid();
  gid_t gid = identity ? identity->gid : getegid();
  if (identity && (info.st_uid != uid || info.st_gid != gid)) HIVE_TRY(changeOwner(path, uid, gid));
  return secureDirectory(path, uid, gid, 0700);
}

// <workspace>/tasks: Hive's; the sandbox gid may pass through, no one else.
Status makeTasksDirectory(const std::string& path, const std::optional<Identity>& identity) {
  HIVE_TRY(makeDirectory(path, 0700));
  if (!identity) return secureDirectory(path, geteuid(), getegid(), 0700);
  return secureDirectory(path, geteuid(), identity->gid, 0710);
}

Status makeDirectories(const std::string& path) {
  for (std::size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1))
    HIVE_TRY(makeDirectory(path.substr(0, slash)));
  return makeDirectory(path);
}

struct GitAnswer {
  bool ok = false;
  std::string output;  // stdout, trimmed
  std::string errors;  // stderr, first line
};

// Runs git with a clean environment, at most 60 s; as `identity` when given.
GitAnswer git(const std::string& directory, std::vector<std::string> arguments,
              const std::optional<Identity>& identity) {
  GitAnswer answer;
  std::string program = findProgram("git", kChildPath);
  if (program.empty()) {
    answer.errors = "git not found in " + std::string(kChildPath);
    return answer;
  }
  SpawnRequest request;
  request.program = program;
  request.arguments = {"git", "-C", directory};
  if (identity) {
    // The repository belongs to the sandbox uid now (jobs commit into it),
    // the workspace around it maybe not: git's ownership check must not
    // refuse it. No hooks: a job can write into the repository's hooks.
    request.arguments.insert(request.arguments.end(),
                             {"-c", "safe.directory=*", "-c", "core.hooksPath=/dev/null"});
    request.identity = identity;
  }
  request.arguments.insert(request.arguments.end(), arguments.begin(), arguments.end());
  request.environment = {std::string("PATH=") + kChildPath, "LANG=C", "GIT_TERMINAL_PROMPT=0"};
  // Hive's HOME (root's) is neither readable nor meant for the sandbox uid.
  if (identity) {
    request.environment.push_back("HOME=/nonexistent");
  } else if (const char* home = std::getenv("HOME")) {
    request.environment.push_back(std::string("HOME=") + home);
  }
  request.workDirectory = identity ? "/" : directory;
  auto tree = ProcessTree::start(request);
  if (!tree.ok()) {
    answer.errors = tree.status().message();
    return answer;
  }
  PumpOptions options;
  options.outputCap = std::size_t{64} * 1024;
  options.maxResultBytes = 0;
  options.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  PumpResult result = pump(**tree, options);
  answer.ok =
      result.ending == Ending::kExited && WIFEXITED(result.waitStatus) && WEXITSTATUS(result.waitStatus) == 0;
  answer.output = result.output.text();
  while (!answer.output.empty() && (answer.output.back() == '\n' || answer.output.back() == '\r'))
    answer.output.pop_back();
  answer.errors = result.errors.text().substr(0, result.errors.text().find('\n'));
  if (!answer.ok && answer.errors.empty()) answer.errors = "git failed";
  return answer;
}

std::string realPath(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) return path;
  return resolved;
}

bool exists(const std::string& path) {
  struct stat info {};
  return lstat(path.c_str(), &info) == 0;
}

}  // namespace

std::string tasksDirectory(const AgentSettings& agent) { return agent.workspace + "/tasks"; }

Result<WorkDirectory> prepareWorkDirectory(const AgentSettings& agent, const std::string& taskId,
                                           const std::optional<Identity>& identity) {
  HIVE_TRY(makeDirectories(agent.workspace), "workspace of agent '" + agent.name + "'");
  std::string tasks = tasksDirectory(agent);
  HIVE_TRY(makeTasksDirectory(tasks, identity));
  WorkDirectory work;
  work.path = tasks + "/" + taskId;

  bool repository = false;
  if (agent.gitWorktree) {
    // Only a repository whose top level is the workspace itself: a workspace
    // inside some other checkout is not one.
    GitAnswer top = git(agent.workspace, {"rev-parse", "--show-toplevel"}, identity);
    repository = top.ok && realPath(top.output) == realPath(agent.workspace);
  }
  if (!repository) {
    HIVE_TRY(makeTaskDirectory(work.path, identity));
    return work;
  }

  GitAnswer common =
      git(agent.workspace, {"rev-parse", "--path-format=absolute", "--git-common-dir"}, identity);
  if (!common.ok) return unavailable("git rev-parse in " + agent.workspace + ": " + common.errors);
  work.gitDirectory = common.output;
  work.branch = "agent/" + agent.name + "/" + taskId;
  if (identity) {
    struct stat info {};
    if (lstat(work.gitDirectory.c_str(), &info) != 0 || !S_ISDIR(info.st_mode))
      return failedPrecondition(work.gitDirectory + ": not a directory; refusing to use it");
    if (info.st_uid != identity->uid || info.st_gid != identity->gid)
      HIVE_TRY(changeOwner(work.gitDirectory, identity->uid, identity->gid),
               "giving the repository to the sandbox uid");
  }
  if (exists(work.path + "/.git")) {  // the worktree of an earlier attempt
    HIVE_TRY(makeTaskDirectory(work.path, identity));
    return work;
  }

  // Made first, so that git (as the sandbox uid) can fill it: tasks/ is not
  // writable for that uid. git accepts an empty directory.
  HIVE_TRY(makeTaskDirectory(work.path, identity));
  GitAnswer branch =
      git(agent.workspace, {"rev-parse", "--verify", "--quiet", "refs/heads/" + work.branch}, identity);
  GitAnswer added = branch.ok
                        ? git(agent.workspace, {"worktree", "add", work.path, work.branch}, identity)
                        : git(agent.workspace, {"worktree", "add", "-b", work.branch, work.path}, identity);
  if (!added.ok)
    return unavailable("git worktree add " + work.path + " (branch " + work.branch + "): " + added.errors);
  HIVE_TRY(makeTaskDirectory(work.path, identity));
  return work;
}

void pruneWorktrees(const AgentSettings& agent, const std::optional<Identity>& identity) {
  if (agent.gitWorktree) (void)git(agent.workspace, {"worktree", "prune"}, identity);
}

}  // namespace hive::task_execution_engine
