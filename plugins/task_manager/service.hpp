// task_manager's hive.tasks/1 and what its routes call: a thin facade over the
// classes that do the work. It builds them in order, each given the clock and
// what it needs, and answers from them:
//
//   UnitOfWork     one store transaction + its outbox (events, counts)
//   EventPublisher events on hive.bus/1 after commit, in commit order
//   QueueRegistry  the store queues and their wake-ups, following the store
//   Dependencies   release or kill the dependents of what settled
//   Submissions    submissions committed in groups
//   Leases         claims and the reports of lease holders
//   Sweeper        timeouts, waiting tasks, aging, Retention
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "clock.hpp"
#include "config.hpp"
#include "dependencies.hpp"
#include "hive/callbacks.hpp"
#include "hive/context.hpp"
#include "hive/services/tasks.hpp"
#include "leases.hpp"
#include "publisher.hpp"
#include "queue_registry.hpp"
#include "retention.hpp"
#include "submissions.hpp"
#include "sweeper.hpp"
#include "unit_of_work.hpp"

namespace hive::task_manager {

class Tasks final : public tasks::TaskService {
 public:
  Tasks(PluginContext& context, ServiceHandle<store::Store> store, Options options, const Clock& clock);
  ~Tasks() override;

  // Declares the collections and loads the known queues.
  Status open();
  // After this every call fails with kUnavailable; wake-ups stop.
  void close();
  // No events waiting to be published.
  bool idle() { return publisher_->idle(); }

  void submit(Task task, std::string idempotencyKey, std::string bodyDigest, Submissions::Done done) {
    submissions_.submit(std::move(task), std::move(idempotencyKey), std::move(bodyDigest), std::move(done));
  }
  Result<Task> get(const std::string& id);
  Result<TaskPage> list(const std::map<std::string, std::string>& equals, std::size_t limit,
                        const std::string& cursor);
  Result<Task> cancel(const std::string& id);
  // The task event log after `afterId`.
  Result<std::vector<store::Event>> events(std::uint64_t afterId, std::size_t limit);
  // Deletes the finished ones of `ids` now, whatever their age (a project's erasure).
  Result<std::size_t> eraseFinished(const std::vector<std::string>& ids) { return retention_.erase(ids); }
  // The store now, for what is not a change of a task.
  Result<ServiceRef<store::Store>> store() { return work_.store(); }
  Result<TaskStats> stats();
  // Runs on the blocking executor.
  void sweep() { sweeper_.sweep(); }

  // tasks::TaskService
  Result<std::vector<tasks::Assignment>> claim(const std::string& agent,
                                               const std::vector<std::string>& capabilities,
                                               std::size_t max) override {
    return leases_.claim(agent, capabilities, max);
  }
  Status started(const std::string& taskId, const std::string& leaseToken) override {
    return leases_.started(taskId, leaseToken);
  }
  Status progress(const std::string& taskId, const std::string& leaseToken,
                  const std::string& progressReport) override {
    return leases_.progress(taskId, leaseToken, progressReport);
  }
  Status succeeded(const std::string& taskId, const std::string& leaseToken,
                   const std::string& result) override;
  Status failed(const std::string& taskId, const std::string& leaseToken, const std::string& error,
                tasks::Retry retry) override;
  Status released(const std::string& taskId, const std::string& leaseToken,
                  const std::string& reason) override;
  std::unique_ptr<Subscription> onWork(std::function<void()> callback) override {
    return workers_.subscribe(std::move(callback));
  }
  Result<std::vector<tasks::QueueDepth>> depth() override;
  std::vector<Status> finish(const std::vector<Report>& reports) override { return leases_.finish(reports); }

 private:
  // Tells the onWork subscribers that a task may have become claimable.
  void wake();

  PluginContext& context_;
  const Options options_;
  const Clock& clock_;
  // Shared with this plugin's other generations: an onWork subscription
  // follows a swap of task_manager on its own.
  CallbackRegistry<> workers_;
  std::shared_ptr<EventPublisher> publisher_;
  UnitOfWork work_;
  QueueRegistry queues_;
  Dependencies dependencies_;
  Submissions submissions_;
  Leases leases_;
  Retention retention_;
  Sweeper sweeper_;
};

}  // namespace hive::task_manager
