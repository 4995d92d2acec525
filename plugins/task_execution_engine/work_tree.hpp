// Walks over a task's work directory as Hive, never following a symlink: the
// job that filled it is untrusted, and these walks run with Hive's rights
// (root, often).
//
// Each directory is opened relative to its parent's descriptor with
// O_NOFOLLOW | O_DIRECTORY, so a symlink planted anywhere (or swapped in while
// a walk runs) is treated as a symlink, never as the directory it points to.
// A walk holds one descriptor per level; a directory kMaxDepth levels down is
// "odd": measuring reports it, the sweep flattens the tree (moves each such
// directory up to the top, as `.hive-deep-<n>`) and goes on.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "hive/status.hpp"

namespace hive::task_execution_engine {

inline constexpr int kMaxDepth = 128;

struct SweepReport {
  std::uint64_t privilegeBitsCleared = 0;  // setuid/setgid bits taken off files and directories
  std::uint64_t removed = 0;               // device nodes, and setuid/setgid files with other links
  std::uint64_t flattened = 0;             // directories moved up from kMaxDepth levels down
};

// After a job: clears S_ISUID and S_ISGID everywhere under `root` (root
// included). A privileged file that is linked elsewhere too (a hard link to
// a host binary) is unlinked here rather than changed, and device nodes are
// removed. Errors other than "vanished meanwhile" are returned.
Result<SweepReport> sweepPrivileges(const std::string& root);

struct DiskUsage {
  std::uint64_t bytes = 0;  // allocated blocks (st_blocks * 512), each inode once
  bool tooDeep = false;     // a directory kMaxDepth levels down: what it holds was not measured
};

// What `root` holds on disk. Best effort while a job writes into it: entries
// that vanish during the walk are skipped.
DiskUsage measureDiskUsage(const std::string& root);

// Gives `root` and everything under it to uid:gid (lchown semantics).
Status changeOwner(const std::string& root, uid_t uid, gid_t gid);

// Removes `root` and everything under it. Stops early, with kAborted, once
// `stop` is set (the plugin is stopping).
Status removeTree(const std::string& root, const std::atomic<bool>* stop = nullptr);

}  // namespace hive::task_execution_engine
