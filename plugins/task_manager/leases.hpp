// Leases: handing waiting tasks to agents and taking their reports. A claim
// leases store queue items and records the assignment in the same
// transaction; the lease then covers the whole attempt (its timeout). A report
// (start, progress, the end of an attempt) applies only with the task's
// current lease token; any other is stale: refused and counted on the task. The
// same end sent again (its answer was lost) is told apart from a stale one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "clock.hpp"
#include "concurrency.hpp"
#include "config.hpp"
#include "dependencies.hpp"
#include "hive/log.hpp"
#include "hive/services/tasks.hpp"
#include "queue_registry.hpp"
#include "unit_of_work.hpp"

namespace hive::task_manager {

class Leases {
 public:
  using Report = tasks::TaskService::Report;
  using Outcome = tasks::TaskService::Outcome;

  Leases(UnitOfWork& work, QueueRegistry& queues, Dependencies& dependencies, const Options& options,
         const Clock& clock, Logger& log)
      : work_(work),
        queues_(queues),
        dependencies_(dependencies),
        options_(options),
        clock_(clock),
        log_(log) {}

  Result<std::vector<tasks::Assignment>> claim(const std::string& agent,
                                               const std::vector<std::string>& capabilities, std::size_t max);
  Status started(const std::string& taskId, const std::string& leaseToken);
  Status progress(const std::string& taskId, const std::string& leaseToken,
                  const std::string& progressReport);
  // Ends of attempts, group committed: reports that arrive while a group is
  // being written wait and go together into the next transaction, whichever
  // agents sent them (one commit for every agent that finished work
  // meanwhile). A group goes together when each of its reports is a plain end
  // of its current lease; otherwise each caller's reports go as before, alone.
  std::vector<Status> finish(const std::vector<Report>& reports);
  Status finish(const Report& report);

 private:
  // What a report did to its task.
  enum class Verdict { kApplied, kStale, kRepeated };
  // The change a report makes to `task` (read at `version`) once its lease is
  // known to be current; kStale when the store no longer knows the lease.
  using LeasedChange = std::function<Result<Verdict>(store::Transaction&, Outbox&, Task&, std::uint64_t)>;
  // Whether `task` already holds this very report (the end of its last attempt).
  using Repeats = std::function<bool(const Task&)>;
  struct Ending;
  struct Waiting;  // one finish() call in the group queue
  static constexpr std::size_t kMaxGroupReports = 512;

  Result<std::vector<tasks::Assignment>> claimFrom(store::Store& store, const std::string& queue,
                                                   const std::string& agent, std::size_t max);
  // The slow way of claimFrom(), when claiming in one transaction failed: each
  // item's task recorded in its own transaction.
  Result<std::vector<tasks::Assignment>> claimOneByOne(store::Store& store, const std::string& queue,
                                                       const std::string& agent, std::size_t max);
  // Records that `agent` claimed `item` (its task assigned, or dropped/dead
  // when it cannot run); `assignment` is left empty when there is nothing to hand out.
  Status assign(store::Transaction& tx, Outbox& outbox, const std::string& queue,
                const store::QueueItem& item, const std::string& agent, tasks::Assignment& assignment);

  // The claim lease cut to the task's timeout when that is shorter (a store or a transaction).
  template <typename Target>
  Status shortenClaim(Target& target, const std::string& queue, const store::QueueItem& item,
                      const tasks::Assignment& assignment);
  // assigned -> running: the lease extended from the claim lease to the task's timeout.
  Status startAttempt(store::Transaction& tx, Task& t, const std::string& leaseToken);

  // An agent's report `what` in its own transaction.
  Status report(const std::string& taskId, const std::string& leaseToken, const std::string& what,
                const LeasedChange& change, const Repeats& repeats = {});
  // The check and change of report() inside `tx`.
  Result<Verdict> reportIn(store::Transaction& tx, Outbox& outbox, const std::string& taskId,
                           const std::string& leaseToken, const LeasedChange& change, const Repeats& repeats);
  // Refuses a report with a stale token and records it on the task.
  Status stale(const std::string& taskId, const std::string& what);

  // Commits the valid reports of every member in one unit of work; false when
  // one of them is not a plain end of its lease (nothing is written then).
  bool commitGroup(const std::vector<Waiting*>& group);
  // One caller's reports when its group could not go together: its own
  // together when they can, else each alone.
  void finishAlone(Waiting& me);

  static Ending endingOf(const Report& report);
  Status checkEnding(const Ending& ending) const;
  LeasedChange changeFor(const std::string& leaseToken, const Ending& ending);
  static Repeats repeatsFor(const Ending& ending);
  std::chrono::milliseconds backoff(std::uint32_t attempts) const;

  UnitOfWork& work_;
  QueueRegistry& queues_;
  Dependencies& dependencies_;
  const Options& options_;
  const Clock& clock_;
  Logger& log_;

  std::mutex limitedMutex_;  // claims under concurrency limits, one at a time
  std::mutex groupMutex_;
  std::condition_variable groupDone_;
  std::deque<Waiting*> waiting_;  // not yet in a group
  bool leading_ = false;          // a caller is writing a group
};

}  // namespace hive::task_manager
