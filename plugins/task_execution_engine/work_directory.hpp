// The per-task work directory of a process agent: <workspace>/tasks/<task>, or
// a git worktree there on branch agent/<agent>/<task> when the agent asks for
// one and its workspace is a git repository.
#pragma once

#include <string>

#include "config.hpp"
#include "hive/status.hpp"

namespace hive::task_execution_engine {

struct WorkDirectory {
  std::string path;
  // The repository's common git directory when `path` is a worktree: a
  // sandboxed child needs it writable to commit.
  std::string gitDirectory;
  std::string branch;
};

// Creates the workspace and the task's directory as needed. A directory that
// exists already (a retry of the same task) is reused as it is.
Result<WorkDirectory> prepareWorkDirectory(const AgentSettings& agent, const std::string& taskId);

// The PATH a child gets unless the agent's environment sets one.
inline constexpr const char* kChildPath = "/usr/local/bin:/usr/bin:/bin";

}  // namespace hive::task_execution_engine
