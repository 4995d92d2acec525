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

namespace hive::task_execution_engine {
namespace {

Status makeDirectory(const std::string& path) {
  if (mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) {
    struct stat info {};
    if (stat(path.c_str(), &info) != 0) return unavailable(path + ": " + std::strerror(errno));
    if (!S_ISDIR(info.st_mode)) return failedPrecondition(path + ": exists and is not a directory");
    return okStatus();
  }
  return unavailable("cannot create " + path + ": " + std::strerror(errno));
}

// The task's directory is bound writable into the sandbox: it must be a real
// directory, not a symlink someone planted to get another path bound instead.
Status makeTaskDirectory(const std::string& path) {
  HIVE_TRY(makeDirectory(path));
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode))
    return failedPrecondition(path + ": is not a directory (a symlink?); refusing to use it");
  return okStatus();
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

// Runs git with a clean environment, at most 60 s.
GitAnswer git(const std::string& directory, std::vector<std::string> arguments) {
  GitAnswer answer;
  std::string program = findProgram("git", kChildPath);
  if (program.empty()) {
    answer.errors = "git not found in " + std::string(kChildPath);
    return answer;
  }
  SpawnRequest request;
  request.program = program;
  request.arguments = {"git", "-C", directory};
  request.arguments.insert(request.arguments.end(), arguments.begin(), arguments.end());
  request.environment = {std::string("PATH=") + kChildPath, "LANG=C", "GIT_TERMINAL_PROMPT=0"};
  if (const char* home = std::getenv("HOME")) request.environment.push_back(std::string("HOME=") + home);
  request.workDirectory = directory;
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

Result<WorkDirectory> prepareWorkDirectory(const AgentSettings& agent, const std::string& taskId) {
  HIVE_TRY(makeDirectories(agent.workspace), "workspace of agent '" + agent.name + "'");
  std::string tasks = agent.workspace + "/tasks";
  HIVE_TRY(makeDirectory(tasks));
  WorkDirectory work;
  work.path = tasks + "/" + taskId;

  bool repository = false;
  if (agent.gitWorktree) {
    // Only a repository whose top level is the workspace itself: a workspace
    // inside some other checkout is not one.
    GitAnswer top = git(agent.workspace, {"rev-parse", "--show-toplevel"});
    repository = top.ok && realPath(top.output) == realPath(agent.workspace);
  }
  if (!repository) {
    HIVE_TRY(makeTaskDirectory(work.path));
    return work;
  }

  GitAnswer common = git(agent.workspace, {"rev-parse", "--path-format=absolute", "--git-common-dir"});
  if (!common.ok) return unavailable("git rev-parse in " + agent.workspace + ": " + common.errors);
  work.gitDirectory = common.output;
  work.branch = "agent/" + agent.name + "/" + taskId;
  if (exists(work.path + "/.git")) {  // the worktree of an earlier attempt
    HIVE_TRY(makeTaskDirectory(work.path));
    return work;
  }

  GitAnswer branch = git(agent.workspace, {"rev-parse", "--verify", "--quiet", "refs/heads/" + work.branch});
  GitAnswer added = branch.ok ? git(agent.workspace, {"worktree", "add", work.path, work.branch})
                              : git(agent.workspace, {"worktree", "add", "-b", work.branch, work.path});
  if (!added.ok)
    return unavailable("git worktree add " + work.path + " (branch " + work.branch + "): " + added.errors);
  HIVE_TRY(makeTaskDirectory(work.path));
  return work;
}

}  // namespace hive::task_execution_engine
