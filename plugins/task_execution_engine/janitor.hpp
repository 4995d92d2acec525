// Removes finished task directories once they are older than the retention
// (`workspace_retention`), and keeps that from racing with jobs.
//
// A background thread sweeps every agent's `tasks/` at start and then every
// retention/4 (between 1 s and 10 min): a task directory whose mtime (set when
// its job ended) is older than the retention and that no job is using is
// removed, never following a symlink (work_tree.hpp). Each pass looks at a
// bounded number of entries, and removal stops as soon as stop() is called,
// so stopping never waits for a large tree to go.
//
// Jobs claim their directory for as long as they run (claim() waits while the
// janitor is removing that very directory); the janitor skips claimed ones.
// Claims are this generation's only: jobs also hold a shared flock(2) on their
// directory, and the janitor removes a directory only under an exclusive one,
// so that during a hot swap neither generation's janitor removes the other's.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config.hpp"
#include "hive/log.hpp"
#include "process_tree.hpp"

namespace hive::task_execution_engine {

inline constexpr std::size_t kMaxEntriesPerPass = 10'000;

class WorkspaceJanitor {
 public:
  // `log` is used until stop() returns.
  WorkspaceJanitor(std::vector<AgentSettings> agents, std::chrono::milliseconds retention,
                   std::optional<Identity> identity, Logger& log);
  ~WorkspaceJanitor();
  WorkspaceJanitor(const WorkspaceJanitor&) = delete;
  WorkspaceJanitor& operator=(const WorkspaceJanitor&) = delete;

  void start();
  // Ends the thread; a removal under way stops at its next entry. Idempotent.
  void stop();

  // A job uses `path` until release(path).
  void claim(const std::string& path);
  void release(const std::string& path);

  // One pass now, on the calling thread (the thread runs the same).
  void sweep();

 private:
  void run();
  bool tryClaimForRemoval(const std::string& path);
  void releaseRemoval(const std::string& path);

  const std::vector<AgentSettings> agents_;
  const std::chrono::milliseconds retention_;
  const std::optional<Identity> identity_;
  Logger& log_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, int> claims_;  // path -> jobs using it; -1 while being removed
  bool stopping_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace hive::task_execution_engine
