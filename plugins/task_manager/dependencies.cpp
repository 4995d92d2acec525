#include "dependencies.hpp"

#include "records.hpp"

namespace hive::task_manager {

Status commit(UnitOfWork& work, Dependencies& dependencies, const UnitOfWork::Work& change) {
  auto settled = HIVE_TRY(work.run(change));
  dependencies.settle(settled);
  return okStatus();
}

std::vector<std::string> Dependencies::dependentsOf(store::Store& store, const std::string& taskId,
                                                    std::int64_t& counted) {
  std::vector<std::string> dependents;
  counted = 0;
  std::string cursor;
  do {
    auto page = store.list({kDependencies, {{"dep", taskId}}, 1000, cursor});
    if (!page.ok()) break;
    for (const auto& edge : page->items) {
      auto space = edge.body.find(' ');
      dependents.push_back(edge.body.substr(0, space));
      if (space != std::string::npos) ++counted;
    }
    cursor = page->nextCursor;
  } while (!cursor.empty());
  return dependents;
}

bool Dependencies::anyPending(store::Store& store) {
  auto counters = store.counters(kPendingEdges);
  if (!counters.ok()) return true;  // cannot tell: look
  auto pending = counters->find(kPendingEdges);
  return pending != counters->end() && pending->second > 0;
}

void Dependencies::settle(const std::vector<Settled>& settled) {
  if (settled.empty()) return;
  if (auto store = work_.store(); !store.ok() || !anyPending(**store)) return;
  std::vector<Settled> work(settled);
  for (std::size_t i = 0; i < work.size() && i < 100000; ++i) {
    auto store = work_.store();
    if (!store.ok()) return;
    std::int64_t counted = 0;
    auto dependents = dependentsOf(**store, work[i].taskId, counted);
    for (const auto& dependent : dependents) {
      if (work[i].status == TaskStatus::kSucceeded)
        releaseIfReady(dependent);
      else
        kill(dependent, "blocked: dependency " + work[i].taskId + " did not succeed", work);
    }
    // Found after they were handled: a crash in between leaves them counted.
    if (counted != 0)
      (void)(*store)->transact(
          [&](store::Transaction& tx) { return tx.addToCounter(kPendingEdges, -counted); });
  }
}

void Dependencies::releaseIfReady(const std::string& taskId) {
  std::string queue;
  std::vector<std::string> capabilities;
  std::string failedDependency;
  auto done = work_.run([&](store::Transaction& tx, Outbox& outbox) -> Status {
    queue.clear();
    failedDependency.clear();
    auto loaded = HIVE_TRY(load(tx, taskId));
    Task t = loaded.task;
    if (t.status != TaskStatus::kPending || t.waitingOn.empty()) return okStatus();
    std::vector<std::string> still;
    for (const auto& dependency : t.waitingOn) {
      auto d = HIVE_TRY(load(tx, dependency));
      if (d.task.status == TaskStatus::kSucceeded) continue;
      if (isTerminal(d.task.status)) failedDependency = dependency;
      still.push_back(dependency);
    }
    if (!failedDependency.empty() || still.size() == t.waitingOn.size()) return okStatus();
    t.waitingOn = still;
    t.updatedAtMs = clock_.nowMs();
    if (still.empty()) {
      HIVE_TRY(tx.enqueue({t.queue, t.id, t.effectivePriority, t.notBeforeMs, {}, t.id}));
      t.queuedAtMs = t.updatedAtMs;
      queue = t.queue;
      capabilities = queueCapabilities(t);
    }
    return outbox.save(tx, t, loaded.version, still.empty() ? "task.ready" : "task.waiting");
  });
  if (!done.ok()) log_.warn("task " + taskId + ": dependencies not settled: " + done.status().message());
  if (!failedDependency.empty()) {
    std::vector<Settled> killed;
    kill(taskId, "blocked: dependency " + failedDependency + " did not succeed", killed);
    settle(killed);
  }
  if (!queue.empty()) {
    queues_.remember(queue, capabilities);
    wake_();
  }
}

void Dependencies::kill(const std::string& taskId, const std::string& reason, std::vector<Settled>& next) {
  auto done = work_.run([&](store::Transaction& tx, Outbox& outbox) -> Status {
    auto loaded = HIVE_TRY(load(tx, taskId));
    Task t = loaded.task;
    if (isTerminal(t.status)) return okStatus();
    if (Status removed = tx.cancel(t.queue, t.id); !removed.ok() && removed.code() != StatusCode::kNotFound)
      return removed;
    t.status = TaskStatus::kDead;
    t.error = reason;
    t.leaseToken.clear();
    t.waitingOn.clear();
    t.finishedAtMs = t.updatedAtMs = clock_.nowMs();
    return outbox.save(tx, t, loaded.version, "task.dead");
  });
  if (!done.ok()) {
    log_.warn("task " + taskId + ": not marked dead: " + done.status().message());
    return;
  }
  next.insert(next.end(), done->begin(), done->end());
}

}  // namespace hive::task_manager
