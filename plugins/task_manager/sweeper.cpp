#include "sweeper.hpp"

#include "records.hpp"

namespace hive::task_manager {

void Sweeper::timedOut(const std::string& queue, const store::QueueItem& item) {
  (void)commit(work_, dependencies_, [&](store::Transaction& tx, Outbox& outbox) -> Status {
    auto loaded = HIVE_TRY(load(tx, item.id));
    Task t = loaded.task;
    if (t.leaseToken != item.leaseToken || isTerminal(t.status)) return okStatus();
    std::int64_t now = clock_.nowMs();
    t.error = task_manager::timedOut(t);
    t.leaseToken.clear();
    t.updatedAtMs = now;
    if (t.attempts >= t.maxAttempts) {
      HIVE_TRY(tx.cancel(queue, t.id));
      t.status = TaskStatus::kDead;
      t.error = gaveUp(t.attempts, t.error);
      t.finishedAtMs = now;
      return outbox.save(tx, t, loaded.version, "task.dead");
    }
    t.status = TaskStatus::kPending;
    t.agent.clear();
    t.queuedAtMs = now;
    return outbox.save(tx, t, loaded.version, "task.timed_out");
  });
}

void Sweeper::expireLeases(store::Store& store) {
  for (const auto& [queue, capabilities] : queues_.all()) {
    auto expired = store.releaseExpired(queue);
    if (!expired.ok()) {
      log_.warn("sweep of " + queue + ": " + expired.status().message());
      continue;
    }
    for (const auto& item : *expired) timedOut(queue, item);
    if (!expired->empty()) wake_();
  }
}

// Waiting tasks whose dependencies settled while nobody looked (a crash
// between a dependency's commit and the release of its dependents).
void Sweeper::releaseWaiting(store::Store& store) {
  std::string cursor;
  do {
    auto page = store.list({kTasks, {{"status", "pending"}, {"waiting", "1"}}, kTaskPage, cursor});
    if (!page.ok()) break;
    for (const auto& d : page->items) dependencies_.releaseIfReady(d.id);
    cursor = page->nextCursor;
  } while (!cursor.empty());
}

Status Sweeper::ageOne(store::Transaction& tx, Outbox& outbox, const std::string& taskId, std::int64_t now) {
  auto loaded = HIVE_TRY(load(tx, taskId));
  Task t = loaded.task;
  if (t.status != TaskStatus::kPending || !t.waitingOn.empty()) return okStatus();
  HIVE_TRY(tx.cancel(t.queue, t.id));
  ++t.effectivePriority;
  HIVE_TRY(tx.enqueue({t.queue, t.id, t.effectivePriority, t.notBeforeMs, {}, t.id}));
  t.updatedAtMs = now;
  return outbox.save(tx, t, loaded.version, "task.aged");
}

void Sweeper::agePage(const std::vector<std::string>& taskIds, std::int64_t now) {
  if (taskIds.empty()) return;
  auto together = work_.run([&](store::Transaction& tx, Outbox& outbox) -> Status {
    for (const auto& id : taskIds) HIVE_TRY(ageOne(tx, outbox, id, now));
    return okStatus();
  });
  if (together.ok() || taskIds.size() == 1) return;
  for (const auto& id : taskIds)
    (void)work_.run([&](store::Transaction& tx, Outbox& outbox) { return ageOne(tx, outbox, id, now); });
}

void Sweeper::age(store::Store& store) {
  std::int64_t now = clock_.nowMs();
  std::string cursor;
  do {
    auto page = store.list({kTasks, {{"status", "pending"}, {"waiting", "0"}}, kTaskPage, cursor});
    if (!page.ok()) break;
    std::vector<std::string> due;
    for (const auto& d : page->items) {
      auto task = fromStoredJson(d.body);
      if (!task.ok() || task->effectivePriority >= 10 || task->queuedAtMs == 0) continue;
      if (now >= task->queuedAtMs + options_.aging.count() * (task->effectivePriority - task->priority + 1))
        due.push_back(d.id);
    }
    agePage(due, now);
    cursor = page->nextCursor;
  } while (!cursor.empty());
}

void Sweeper::sweep() {
  if (!work_.isOpen() || sweeping_.exchange(true)) return;
  struct Clear {
    std::atomic<bool>& flag;
    ~Clear() { flag = false; }
  } clear{sweeping_};
  auto store = work_.store();
  if (!store.ok()) return;
  expireLeases(**store);
  if (waitingCheck_.due(clock_, std::chrono::seconds(5))) releaseWaiting(**store);
  if (options_.aging.count() > 0 && aging_.due(clock_, options_.aging / 4)) age(**store);
  if (expiry_.due(clock_, options_.retentionPeriod)) retention_.expire();
}

}  // namespace hive::task_manager
