#include "records.hpp"

#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "concurrency.hpp"

namespace hive::task_manager {
namespace {

// Counters filled by listing, once per store: a store written before they
// existed is counted at start, and `marker` then records that it was. (Another
// node doing the same at the same moment would count twice: start the first
// node of an upgraded cluster alone.)
Result<bool> alreadyCounted(store::Store& store, const char* marker) {
  auto found = HIVE_TRY(store.counters(marker));
  return found.count(marker) != 0;
}

// Every stored task matching `equals`, page by page.
Status forEachTask(store::Store& store, const std::map<std::string, std::string>& equals,
                   const std::function<Status(const store::Document&)>& visit) {
  std::string cursor;
  do {
    auto page = HIVE_TRY(store.list({kTasks, equals, 1000, cursor}));
    for (const auto& document : page.items) HIVE_TRY(visit(document));
    cursor = page.nextCursor;
  } while (!cursor.empty());
  return okStatus();
}

// The counters of tasks by status.
Status countExisting(store::Store& store) {
  constexpr const char* kMarker = "tasks.counted";
  if (HIVE_TRY(alreadyCounted(store, kMarker))) return okStatus();
  std::map<TaskStatus, std::int64_t> counts;
  for (TaskStatus status : kAllStatuses)
    HIVE_TRY(forEachTask(store, {{"status", std::string(statusName(status))}}, [&](const store::Document&) {
      ++counts[status];
      return okStatus();
    }));
  return store.transact([&](store::Transaction& tx) -> Status {
    for (const auto& [status, count] : counts)
      if (count != 0) HIVE_TRY(tx.addToCounter(statusCounter(status), count));
    return tx.addToCounter(kMarker, 1);
  });
}

// The counters of busy tasks by queue (concurrency.hpp): the assigned and running ones.
Status countBusy(store::Store& store) {
  constexpr const char* kMarker = "tasks.busy_counted";
  if (HIVE_TRY(alreadyCounted(store, kMarker))) return okStatus();
  std::map<std::string, std::int64_t> busy;
  for (TaskStatus status : {TaskStatus::kAssigned, TaskStatus::kRunning})
    HIVE_TRY(forEachTask(store, {{"status", std::string(statusName(status))}}, [&](const store::Document& d) {
      ++busy[HIVE_TRY(fromStoredJson(d.body)).queue];
      return okStatus();
    }));
  return store.transact([&](store::Transaction& tx) -> Status {
    for (const auto& [queue, count] : busy) HIVE_TRY(tx.addToCounter(busyCounter(queue), count));
    return tx.addToCounter(kMarker, 1);
  });
}

// kPendingEdges: the edges of each waiting task become counted ones.
Status countPendingEdges(store::Store& store) {
  constexpr const char* kMarker = "tasks.edges_counted";
  if (HIVE_TRY(alreadyCounted(store, kMarker))) return okStatus();
  std::vector<std::pair<std::string, std::string>> edges;  // dependency, dependent
  HIVE_TRY(forEachTask(store, {{"status", "pending"}, {"waiting", "1"}}, [&](const store::Document& d) {
    Task waiting = HIVE_TRY(fromStoredJson(d.body));
    for (const auto& dependency : waiting.waitingOn) edges.emplace_back(dependency, waiting.id);
    return okStatus();
  }));
  return store.transact([&](store::Transaction& tx) -> Status {
    for (const auto& [dependency, dependent] : edges)
      HIVE_TRY(tx.put(kDependencies, edgeDocument(dependency, dependent, true), store::kAnyVersion));
    if (!edges.empty()) HIVE_TRY(tx.addToCounter(kPendingEdges, static_cast<std::int64_t>(edges.size())));
    return tx.addToCounter(kMarker, 1);
  });
}

}  // namespace

std::string statusCounter(TaskStatus status) { return kStatusCounters + std::string(statusName(status)); }

store::Document edgeDocument(const std::string& dependency, const std::string& dependent, bool counted) {
  store::Document d;
  d.id = dependency + ":" + dependent;
  d.body = counted ? dependent + " pending" : dependent;
  d.index = {{"dep", dependency}};
  return d;
}

store::Document toDocument(const Task& task) {
  store::Document d;
  d.id = task.id;
  d.body = toStoredJson(task);
  d.index = {{"status", std::string(statusName(task.status))},
             {"type", task.type},
             {"agent", task.agent},
             {"capabilities", capabilityKey(task.capabilities)},
             {"waiting", task.waitingOn.empty() ? "0" : "1"}};
  // The default tenant ("") and no project are not indexed: most tasks have
  // them, and their lists read unfiltered (routes.cpp) instead.
  if (!task.tenant.empty()) d.index["tenant"] = task.tenant;
  if (!task.project.empty()) d.index["project"] = task.project;
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

std::optional<store::Document> RecentTasks::find(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto found = entries_.find(id);
  if (found == entries_.end()) return std::nullopt;
  store::Document d;
  d.id = id;
  d.body = found->second.body;
  d.version = found->second.version;
  return d;
}

void RecentTasks::remember(const std::string& id, std::string body, std::uint64_t version) {
  if (body.size() > kMaxEntryBytes) return forget(id);
  std::lock_guard lock(mutex_);
  auto [slot, created] = entries_.try_emplace(id);
  if (!created) bytes_ -= cost(id, slot->second);
  slot->second = {std::move(body), version};
  bytes_ += cost(id, slot->second);
  if (bytes_ > kBudgetBytes) {
    entries_.clear();
    bytes_ = 0;
  }
}

void RecentTasks::forget(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto found = entries_.find(id);
  if (found == entries_.end()) return;
  bytes_ -= cost(id, found->second);
  entries_.erase(found);
}

void RecentTasks::clear() {
  std::lock_guard lock(mutex_);
  entries_.clear();
  bytes_ = 0;
}

Status declareRecords(store::Store& store) {
  HIVE_TRY(store.declareCollection(
      {kTasks, {"status", "type", "agent", "capabilities", "waiting", "tenant", "project"}}));
  HIVE_TRY(store.declareCollection({kDependencies, {"dep"}}));
  HIVE_TRY(store.declareCollection({kIdempotency, {}}));
  HIVE_TRY(store.declareCollection({kQueues, {}}));
  HIVE_TRY(countExisting(store), "counting the stored tasks");
  HIVE_TRY(countBusy(store), "counting the assigned and running tasks");
  HIVE_TRY(countPendingEdges(store), "counting the dependencies waited for");
  return okStatus();
}

}  // namespace hive::task_manager
