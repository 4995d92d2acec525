#include "records.hpp"

#include <map>

#include "concurrency.hpp"

namespace hive::task_manager {
namespace {

// Set once the counters hold every task (after the count of a store written
// before counters existed).
constexpr const char* kCountedMarker = "tasks.counted";

Status countExisting(store::Store& store) {
  auto marker = HIVE_TRY(store.counters(kCountedMarker));
  if (marker.count(kCountedMarker) != 0) return okStatus();
  // A new store, or one written before the counters existed: counted by
  // listing, once. (Another node doing the same at the same moment would count
  // twice: start the first node of an upgraded cluster alone.)
  std::map<TaskStatus, std::int64_t> counts;
  for (TaskStatus status : kAllStatuses) {
    std::string cursor;
    do {
      auto page = HIVE_TRY(store.list({kTasks, {{"status", std::string(statusName(status))}}, 1000, cursor}));
      counts[status] += static_cast<std::int64_t>(page.items.size());
      cursor = page.nextCursor;
    } while (!cursor.empty());
  }
  return store.transact([&](store::Transaction& tx) -> Status {
    for (const auto& [status, count] : counts)
      if (count != 0) HIVE_TRY(tx.addToCounter(statusCounter(status), count));
    return tx.addToCounter(kCountedMarker, 1);
  });
}

// Set once the counters of busy tasks by queue (concurrency.hpp) hold every
// assigned and running task.
constexpr const char* kBusyCountedMarker = "tasks.busy_counted";

Status countBusy(store::Store& store) {
  auto marker = HIVE_TRY(store.counters(kBusyCountedMarker));
  if (marker.count(kBusyCountedMarker) != 0) return okStatus();
  // A store written before these counters existed: its assigned and running
  // tasks counted by listing, once (the same caveat as countExisting).
  std::map<std::string, std::int64_t> busy;
  for (TaskStatus status : {TaskStatus::kAssigned, TaskStatus::kRunning}) {
    std::string cursor;
    do {
      auto page = HIVE_TRY(store.list({kTasks, {{"status", std::string(statusName(status))}}, 1000, cursor}));
      for (const auto& document : page.items) ++busy[HIVE_TRY(fromStoredJson(document.body)).queue];
      cursor = page.nextCursor;
    } while (!cursor.empty());
  }
  return store.transact([&](store::Transaction& tx) -> Status {
    for (const auto& [queue, count] : busy) HIVE_TRY(tx.addToCounter(busyCounter(queue), count));
    return tx.addToCounter(kBusyCountedMarker, 1);
  });
}

// Set once kPendingEdges counts the edges of the tasks waiting when it was
// introduced.
constexpr const char* kEdgesCountedMarker = "tasks.edges_counted";

Status countPendingEdges(store::Store& store) {
  auto marker = HIVE_TRY(store.counters(kEdgesCountedMarker));
  if (marker.count(kEdgesCountedMarker) != 0) return okStatus();
  // A store written before the count: the edges of each waiting task become
  // counted ones, once (the same caveat as countExisting).
  std::vector<std::pair<std::string, std::string>> edges;  // dependency, dependent
  std::string cursor;
  do {
    auto page = HIVE_TRY(store.list({kTasks, {{"status", "pending"}, {"waiting", "1"}}, 1000, cursor}));
    for (const auto& document : page.items) {
      Task waiting = HIVE_TRY(fromStoredJson(document.body));
      for (const auto& dependency : waiting.waitingOn) edges.emplace_back(dependency, waiting.id);
    }
    cursor = page.nextCursor;
  } while (!cursor.empty());
  return store.transact([&](store::Transaction& tx) -> Status {
    for (const auto& [dependency, dependent] : edges) {
      store::Document edge;
      edge.id = dependency + ":" + dependent;
      edge.body = edgeBody(dependent, true);
      edge.index = {{"dep", dependency}};
      HIVE_TRY(tx.put(kDependencies, std::move(edge), store::kAnyVersion));
    }
    if (!edges.empty()) HIVE_TRY(tx.addToCounter(kPendingEdges, static_cast<std::int64_t>(edges.size())));
    return tx.addToCounter(kEdgesCountedMarker, 1);
  });
}

}  // namespace

std::string statusCounter(TaskStatus status) { return kStatusCounters + std::string(statusName(status)); }

store::Document toDocument(const Task& task) {
  store::Document d;
  d.id = task.id;
  d.body = toStoredJson(task);
  d.index = {{"status", std::string(statusName(task.status))},
             {"type", task.type},
             {"agent", task.agent},
             {"capabilities", capabilityKey(task.capabilities)},
             {"waiting", task.waitingOn.empty() ? "0" : "1"},
             {"tenant", task.tenant}};
  return d;
}

Result<Loaded> load(store::Transaction& tx, const std::string& id) {
  auto document = tx.get(kTasks, id);
  if (!document.ok()) return document.status();
  auto task = fromStoredJson(document->body);
  if (!task.ok()) return task.status();
  task->storedStatus = task->status;
  return Loaded{std::move(task).value(), document->version};
}

Status declareRecords(store::Store& store) {
  HIVE_TRY(
      store.declareCollection({kTasks, {"status", "type", "agent", "capabilities", "waiting", "tenant"}}));
  HIVE_TRY(store.declareCollection({kDependencies, {"dep"}}));
  HIVE_TRY(store.declareCollection({kIdempotency, {}}));
  HIVE_TRY(store.declareCollection({kQueues, {}}));
  HIVE_TRY(countExisting(store), "counting the stored tasks");
  HIVE_TRY(countBusy(store), "counting the assigned and running tasks");
  HIVE_TRY(countPendingEdges(store), "counting the dependencies waited for");
  return okStatus();
}

}  // namespace hive::task_manager
