// The unit of work: one store transaction and its outbox. What a transaction
// changes about tasks is recorded in the outbox as it goes (the event of each
// change, in the durable log in the same transaction; the changes of the counts
// by status, and of the tasks each queue has assigned or running); after the commit the events go to the
// publisher, and the caller gets back which tasks reached a terminal state. What follows from that (the tasks
// that depend on them) is the caller's business: this class knows no dependency rule.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config.hpp"
#include "hive/services.hpp"
#include "hive/services/store.hpp"
#include "publisher.hpp"
#include "records.hpp"
#include "task_model.hpp"

namespace hive::task_manager {

// A task that reached a terminal state in a committed unit of work.
struct Settled {
  std::string taskId;
  TaskStatus status;
};

class Outbox {
 public:
  using Traced = std::map<std::string, std::pair<std::string, std::string>>;

  // Records a state change of `task` for the durable event log (written in
  // the same transaction, at its end: see writeEvents) and for publication
  // after commit.
  Status record(store::Transaction& tx, const Task& task, const std::string& event);
  // Writes `task` at `version` (store::kMustNotExist: creates it), then record()s it.
  Status save(store::Transaction& tx, const Task& task, std::uint64_t version, const std::string& event);
  // The task `id` for a change of its lease (a claim, an agent's report): as
  // this node last committed it when it still has it (RecentTasks), else as
  // stored. Only for changes that save() the task when they succeed, or fail.
  Result<Loaded> loadLeased(store::Transaction& tx, const std::string& id);
  // A task deleted (retention): its status no longer counts.
  void forget(TaskStatus status) { --counts_[status]; }

 private:
  friend class UnitOfWork;
  // Changes of the counts by status, written once at the end of the unit of
  // work (a group of 50 submissions is one counter update, not 50).
  Status writeCounts(store::Transaction& tx);
  // The events, appended to the log as the last writes of the unit of work:
  // an append takes the stream's row lock on PostgreSQL (its ids follow
  // commit order), held until the commit, so the later it comes the less
  // other units wait for it.
  Status writeEvents(store::Transaction& tx);

  struct Entry {
    std::string type;
    std::size_t event;  // its body: events_[event]
  };
  struct Written {
    std::string id;
    std::string body;
    std::uint64_t version;
    bool keep;  // else forgotten: finished, or large
  };
  // Given by the unit of work. recalled_: the ids loadLeased() took from
  // recent_; null when the unit runs from the store alone.
  RecentTasks* recent_ = nullptr;
  std::vector<std::string>* recalled_ = nullptr;
  std::vector<Written> written_;  // for recent_, after the commit
  std::vector<Entry> log_;
  std::vector<TaskEvent> events_;
  std::vector<Settled> settled_;
  std::map<TaskStatus, std::int64_t> counts_;
  std::map<std::string, std::int64_t> busy_;  // queue → change of its assigned and running tasks
  // While spans are exported (hive.tracing/1): the sampled tasks the unit
  // touched, traceparent → (task id, event), for its store transaction's span.
  TransactionSpans tracing_ = TransactionSpans::kNone;
  Traced traced_;
};

class UnitOfWork {
 public:
  UnitOfWork(ServiceRegistry& services, ServiceHandle<store::Store> store,
             std::shared_ptr<EventPublisher> publisher, TransactionSpans spans)
      : services_(services), spans_(spans), store_(std::move(store)), publisher_(std::move(publisher)) {}

  // Declares the collections; after it, work runs.
  Status open();
  // After this every call fails with kUnavailable.
  void close() { open_ = false; }
  bool isOpen() const { return open_; }

  // The store, for reads and for what is not a change of a task.
  Result<ServiceRef<store::Store>> store();

  using Work = std::function<Status(store::Transaction&, Outbox&)>;
  // Runs `work` in one transaction (again from an empty outbox when the store
  // retries it); after the commit, publishes its events and returns the tasks
  // that settled. Nothing is published when it fails. A unit that took tasks
  // from RecentTasks and failed with kAborted (a version conflict, a report
  // found stale) forgets them and runs once more from the store. While spans are
  // exported, each sampled task it touched gets a span of the transaction
  // ("store.transaction"), a child of the span its traceparent names.
  Result<std::vector<Settled>> run(const Work& work);
  // A task written without save(): the node's copy is no longer what is stored.
  void forget(const std::string& taskId) { recent_.forget(taskId); }

 private:
  Result<std::vector<Settled>> attempt(const Work& work, std::vector<std::string>* recalled);

  ServiceRegistry& services_;
  const TransactionSpans spans_;
  ServiceHandle<store::Store> store_;
  std::shared_ptr<EventPublisher> publisher_;
  std::atomic<bool> open_{false};
  RecentTasks recent_;
};

}  // namespace hive::task_manager
