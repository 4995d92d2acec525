// The task queue: what POST /api/v2/tasks and the orchestrator do to tasks,
// on top of hive.store/1 (documents, queue items with leases, the event log)
// and hive.bus/1 (live events). The store is the truth; every state change is
// one store transaction, and its events are published after it commits.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hive/context.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tasks.hpp"
#include "task_model.hpp"

namespace hive::task_manager {

struct Options {
  Limits limits;
  std::chrono::milliseconds retryBase{1000};
  std::chrono::milliseconds retryMax{60000};
  std::chrono::milliseconds aging{30000};  // a waiting task gains one priority level per period
  std::chrono::milliseconds claimLease{30000};
  std::chrono::milliseconds sweepPeriod{1000};
  // Finished tasks (and their events) are deleted this long after they finished.
  std::chrono::milliseconds retention{std::chrono::hours(24 * 7)};
  std::map<std::string, std::chrono::milliseconds> retentionByType;  // task type → its own retention
  std::size_t retentionBatch = 100;                                  // tasks deleted per transaction
  std::chrono::milliseconds retentionPeriod{10000};                  // how often the sweep looks
};

struct TaskPage {
  std::vector<Task> items;
  std::string nextCursor;
};

class TaskCore final : public tasks::TaskService, public std::enable_shared_from_this<TaskCore> {
 public:
  TaskCore(PluginContext& context, ServiceHandle<store::Store> store, Options options);
  ~TaskCore() override;

  // Declares the collections and loads the known queues.
  Status open();
  // After this every call fails with kUnavailable; wake-ups stop.
  void close();
  // No events waiting to be published.
  bool idle();

  struct Submitted {
    Task task;
    bool replayed = false;  // an earlier submission with the same Idempotency-Key
  };
  // Submits `task` without holding a thread while it commits: submissions that
  // arrive while a group is being written go together into the next store
  // transaction (one commit, one fsync for the group). `done` runs once, on a
  // blocking thread, after the task is committed (or refused: kInvalidArgument
  // with field errors for a bad submission).
  using SubmitDone = std::function<void(Result<Submitted>, std::vector<http::FieldError>)>;
  void submitAsync(Task task, std::string idempotencyKey, std::string bodyDigest, SubmitDone done);
  Result<Task> get(const std::string& id);
  Result<TaskPage> list(const std::map<std::string, std::string>& equals, std::size_t limit,
                        const std::string& cursor);
  Result<Task> cancel(const std::string& id);
  // The task event log after `afterId`.
  Result<std::vector<store::Event>> events(std::uint64_t afterId, std::size_t limit);
  // {"by_status": {...}, "queues": [...]} as JSON.
  Result<std::string> stats();
  // Expired leases, dependencies, aging, retention. Runs on the blocking executor.
  void sweep();
  // Deletes the finished tasks (and events) past their retention, in batches;
  // returns how many tasks went.
  std::size_t expire();

  // tasks::TaskService
  Result<std::vector<tasks::Assignment>> claim(const std::string& agent,
                                               const std::vector<std::string>& capabilities,
                                               std::size_t max) override;
  Status started(const std::string& taskId, const std::string& leaseToken) override;
  Status progress(const std::string& taskId, const std::string& leaseToken,
                  const std::string& progressReport) override;
  Status succeeded(const std::string& taskId, const std::string& leaseToken,
                   const std::string& result) override;
  Status failed(const std::string& taskId, const std::string& leaseToken, const std::string& error,
                tasks::Retry retry) override;
  Status released(const std::string& taskId, const std::string& leaseToken,
                  const std::string& reason) override;
  std::unique_ptr<Subscription> onWork(std::function<void()> callback) override;
  Result<std::vector<tasks::QueueDepth>> depth() override;
  std::vector<Status> finish(const std::vector<Report>& reports) override;

 private:
  struct Outbox;
  class WorkSubscription;
  struct Submission;

  // Writes one submission inside `tx` (its checks first: a refused one has
  // written nothing when it returns kInvalidArgument with `errors`).
  Status stage(store::Transaction& tx, Outbox& outbox, Submission& s);
  // After the transaction of `s` committed.
  void settled(const Submission& s);
  // Commits the waiting submissions in groups until none is left.
  void drainSubmissions();
  bool knownQueue(const std::string& queue);
  // Counts the tasks of a store written before the counters existed, once.
  Status countExisting(store::Store& store);
  std::chrono::milliseconds retentionFor(const std::string& type) const;
  // Deletes `ids` (finished, past retention) in one transaction; how many went.
  std::size_t remove(const std::vector<std::string>& ids, std::int64_t now);
  // Records that `agent` claimed `item` (its task assigned, or dropped/dead
  // when it cannot run); `assignment` is left empty when there is nothing to hand out.
  // The slow way of claim(), when claiming in one transaction failed: each
  // item's task recorded in its own transaction.
  Result<std::vector<tasks::Assignment>> claimOneByOne(store::Store& store, const std::string& queue,
                                                       const std::string& agent, std::size_t max);
  Status assign(store::Transaction& tx, Outbox& outbox, const std::string& queue,
                const store::QueueItem& item, const std::string& agent, tasks::Assignment& assignment);

  // One unit of work; `events` collected during it are published after commit.
  Status transact(const std::function<Status(store::Transaction&, Outbox&)>& work);
  Result<ServiceRef<store::Store>> storeRef();
  // Queues the outbox's events for the publisher, in commit order: a bus whose
  // publish waits for a server (Redis) no longer delays the answer to a
  // submission or a report. Blocks while kPublishBacklog events wait.
  void publish(const Outbox& outbox);
  void drainPublishing();
  void remember(const std::string& queue, const std::vector<std::string>& capabilities);
  void refreshQueues(bool force);
  std::map<std::string, std::vector<std::string>> knownQueues();
  void notifyWork();
  // Rejects a report with a stale token and records it on the task.
  Status stale(const std::string& taskId, const std::string& leaseToken, const std::string& what);
  // An agent's report `what` on a task it holds with `leaseToken`: in one
  // transaction, `change` gets the task and its version when the token is the
  // task's current lease (not empty, task not finished); otherwise, or when
  // `change` sets `refused` (the store no longer knows the lease), the report
  // is refused and recorded as stale. A report whose token is the one that
  // ended the last attempt and for which `repeats` holds is the same report
  // sent again: kAlreadyExists, nothing changes and nothing is recorded.
  using LeasedChange =
      std::function<Status(store::Transaction&, Outbox&, Task&, std::uint64_t version, bool& refused)>;
  Status report(const std::string& taskId, const std::string& leaseToken, const std::string& what,
                const LeasedChange& change, const std::function<bool(const Task&)>& repeats = {});
  // The check and change of report() inside `tx`: `refused` (stale) or
  // `repeated` (the same report again) when it did not apply.
  Status reportIn(store::Transaction& tx, Outbox& outbox, const std::string& taskId,
                  const std::string& leaseToken, const LeasedChange& change,
                  const std::function<bool(const Task&)>& repeats, bool& refused, bool& repeated);
  // The end of an attempt as a report says it, and what it changes.
  struct Ending;
  static Ending endingOf(const Report& r);
  Status checkEnding(const Ending& e) const;
  LeasedChange changeFor(const std::string& leaseToken, const Ending& e);
  static std::function<bool(const Task&)> repeatsFor(const Ending& e);
  Status finishOne(const Report& r);
  std::chrono::milliseconds backoff(std::uint32_t attempts) const;
  // After `taskId` reached a terminal state: enqueue or kill its dependents.
  void settleDependents(const std::string& taskId, bool succeeded);
  void releaseIfReady(const std::string& taskId);
  void kill(const std::string& taskId, const std::string& reason, std::vector<std::string>& next);

  PluginContext& context_;
  ServiceHandle<store::Store> store_;
  Options options_;
  std::atomic<bool> open_{false};
  std::atomic<bool> sweeping_{false};

  std::mutex queuesMutex_;
  std::map<std::string, std::vector<std::string>> queues_;  // queue name → capabilities
  std::chrono::steady_clock::time_point queuesRefreshed_{};
  std::vector<std::unique_ptr<Subscription>> claimable_;  // store wake-ups, one per queue
  // The wake-ups are the store's objects: when the store is swapped or removed
  // they are dropped (the old generation is still loaded then) and taken again.
  void resubscribe();
  std::unique_ptr<Subscription> storeWatch_;

  std::mutex workMutex_;  // held while wake-up callbacks run
  std::map<std::uint64_t, std::function<void()>> workers_;
  std::uint64_t nextWorker_ = 0;

  std::mutex publishMutex_;
  std::condition_variable publishRoom_;
  std::deque<std::pair<std::string, std::string>> publishing_;  // task id, event JSON
  bool publisherRunning_ = false;

  std::mutex submitMutex_;
  std::vector<Submission> submissions_;  // waiting for the next group
  int submitDrains_ = 0;                 // drains running

  std::chrono::steady_clock::time_point lastAging_{};
  std::chrono::steady_clock::time_point lastExpiry_{};
  std::chrono::steady_clock::time_point lastWaitingCheck_{};
};

}  // namespace hive::task_manager
