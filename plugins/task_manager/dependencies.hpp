// The dependency rule: a task that waits on others is queued when every one
// of them succeeded, and dies ("blocked: dependency ... did not succeed") when
// one of them ended otherwise; its own dependents follow it. The edges are the
// task_deps collection, written with the dependent task.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "clock.hpp"
#include "hive/log.hpp"
#include "queue_registry.hpp"
#include "unit_of_work.hpp"

namespace hive::task_manager {

class Dependencies {
 public:
  Dependencies(UnitOfWork& work, QueueRegistry& queues, const Clock& clock, Logger& log,
               std::function<void()> wake)
      : work_(work), queues_(queues), clock_(clock), log_(log), wake_(std::move(wake)) {}

  // After a unit of work committed: the dependents of each task that settled
  // are released or killed.
  void settle(const std::vector<Settled>& settled);
  // Queues `taskId` when its dependencies succeeded (kills it when one did
  // not). The sweep calls it for tasks whose release a crash may have missed.
  void releaseIfReady(const std::string& taskId);

 private:
  // Whether any edge may still wait for its dependency's end (kPendingEdges).
  static bool anyPending(store::Store& store);
  // The tasks that wait on `taskId`; `counted`: how many of their edges are in kPendingEdges.
  std::vector<std::string> dependentsOf(store::Store& store, const std::string& taskId,
                                        std::int64_t& counted);
  // Marks `taskId` dead with `reason` unless it already ended; adds what settled to `next`.
  void kill(const std::string& taskId, const std::string& reason, std::vector<Settled>& next);

  UnitOfWork& work_;
  QueueRegistry& queues_;
  const Clock& clock_;
  Logger& log_;
  std::function<void()> wake_;
};

// Runs `work` and settles the dependents of what it finished; its status.
Status commit(UnitOfWork& work, Dependencies& dependencies, const UnitOfWork::Work& change);

}  // namespace hive::task_manager
