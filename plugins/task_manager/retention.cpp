#include "retention.hpp"

#include <algorithm>

#include "records.hpp"

namespace hive::task_manager {

std::chrono::milliseconds Retention::retentionFor(const std::string& type) const {
  auto found = options_.retentionByType.find(type);
  return found == options_.retentionByType.end() ? options_.retention : found->second;
}

std::size_t Retention::remove(const std::vector<std::string>& ids, std::int64_t now) {
  return removeWhere(ids, [&](const Task& t) {
    return isTerminal(t.status) && t.finishedAtMs + retentionFor(t.type).count() <= now;
  });
}

Result<std::size_t> Retention::erase(const std::vector<std::string>& ids) {
  std::size_t removed = 0;
  Status done = removeWhere(
      ids, [](const Task& t) { return isTerminal(t.status); }, removed);
  if (!done.ok()) return done;
  return removed;
}

std::size_t Retention::removeWhere(const std::vector<std::string>& ids,
                                   const std::function<bool(const Task&)>& eligible) {
  std::size_t removed = 0;
  Status done = removeWhere(ids, eligible, removed);
  if (!done.ok()) {
    log_.warn("retention: deleting " + std::to_string(ids.size()) + " tasks failed: " + done.message());
    return 0;
  }
  return removed;
}

Status Retention::removeWhere(const std::vector<std::string>& ids,
                              const std::function<bool(const Task&)>& eligible, std::size_t& removed) {
  auto gone = [](Status s) { return s.ok() || s.code() == StatusCode::kNotFound ? okStatus() : s; };
  auto done = work_.run([&](store::Transaction& tx, Outbox& outbox) -> Status {
    removed = 0;
    for (const auto& id : ids) {
      auto loaded = load(tx, id);
      if (!loaded.ok()) {
        if (loaded.status().code() == StatusCode::kNotFound) continue;  // another node was first
        return loaded.status();
      }
      const Task& t = loaded->task;
      if (!eligible(t)) continue;
      HIVE_TRY(tx.remove(kTasks, id, loaded->version));
      outbox.forget(t.status);
      // A later submission with its key makes a new task.
      if (!t.idempotencyKey.empty()) HIVE_TRY(gone(tx.remove(kIdempotency, t.idempotencyKey)));
      for (const auto& dependency : t.dependsOn)
        HIVE_TRY(gone(tx.remove(kDependencies, dependency + ":" + id)));
      ++removed;
    }
    return okStatus();
  });
  return done.status();
}

std::size_t Retention::expire(store::Store& store, TaskStatus status, std::int64_t now) {
  std::chrono::milliseconds shortest = options_.retention;
  for (const auto& [type, retention] : options_.retentionByType) shortest = std::min(shortest, retention);
  std::size_t removed = 0;
  std::string cursor;
  bool done = false;
  while (!done && work_.isOpen()) {
    auto page =
        store.list({kTasks, {{"status", std::string(statusName(status))}}, options_.retentionBatch, cursor});
    if (!page.ok()) break;
    std::vector<std::string> expired;
    for (const auto& d : page->items) {
      auto task = fromStoredJson(d.body);
      if (!task.ok()) continue;
      // Listed in id order, which is creation order: a task created within the
      // shortest retention finished within it too, and so did every later one.
      if (task->createdAtMs > now - shortest.count()) {
        done = true;
        break;
      }
      if (task->finishedAtMs + retentionFor(task->type).count() <= now) expired.push_back(d.id);
    }
    // Each batch its own transaction: writers wait for one batch at most.
    if (!expired.empty()) removed += remove(expired, now);
    cursor = page->nextCursor;
    if (cursor.empty()) done = true;
  }
  return removed;
}

void Retention::trimEvents(store::Store& store, std::int64_t now) {
  for (int round = 0; round < 100 && work_.isOpen(); ++round) {
    auto trimmed = store.trim(kEventLog, now - options_.eventRetention.count(), 10000);
    if (!trimmed.ok()) {
      log_.warn("retention: trimming the task event log failed: " + trimmed.status().message());
      break;
    }
    if (*trimmed < 10000) break;
  }
}

std::size_t Retention::expire() {
  auto store = work_.store();
  if (!store.ok()) return 0;
  std::int64_t now = clock_.nowMs();
  std::size_t removed = 0;
  for (TaskStatus status :
       {TaskStatus::kSucceeded, TaskStatus::kFailed, TaskStatus::kCancelled, TaskStatus::kDead})
    removed += expire(**store, status, now);
  // The event log: what is older than its own retention.
  trimEvents(**store, now);
  if (removed > 0) log_.info("retention: deleted " + std::to_string(removed) + " finished tasks");
  return removed;
}

}  // namespace hive::task_manager
