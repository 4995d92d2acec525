// The per-task work directory of a process agent: <workspace>/tasks/<task>, or
// a git worktree there on branch agent/<agent>/<task> when the agent asks for
// one and its workspace is a git repository.
//
// Ownership: the task directory is 0700 and belongs to the job's identity
// (the sandbox uid/gid when Hive is root), and `tasks/` is 0710 Hive's, with
// the sandbox gid as its group: only Hive and jobs can pass through it, no
// other host user can reach any task directory. With git_worktree and an
// identity, the repository's git directory is given to the sandbox uid too
// (jobs commit into it) and Hive runs its git commands as that uid, never as
// root in a directory a job could have written hooks or config into.
#pragma once

#include <optional>
#include <string>

#include "config.hpp"
#include "hive/status.hpp"
#include "process_tree.hpp"

namespace hive::task_execution_engine {

struct WorkDirectory {
  std::string path;
  // The repository's common git directory when `path` is a worktree: a
  // sandboxed child needs it writable to commit.
  std::string gitDirectory;
  std::string branch;
};

// Creates the workspace and the task's directory as needed. A directory that
// exists already (a retry of the same task) is reused with its contents, its
// owner and mode set again.
Result<WorkDirectory> prepareWorkDirectory(const AgentSettings& agent, const std::string& taskId,
                                           const std::optional<Identity>& identity);

// `<workspace>/tasks`.
std::string tasksDirectory(const AgentSettings& agent);

// Forgets worktrees whose directories were removed (`git worktree prune`).
void pruneWorktrees(const AgentSettings& agent, const std::optional<Identity>& identity);

// The PATH a child gets unless the agent's environment sets one.
inline constexpr const char* kChildPath = "/usr/local/bin:/usr/bin:/bin";

}  // namespace hive::task_execution_engine
