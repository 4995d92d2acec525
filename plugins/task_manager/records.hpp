// How task_manager keeps tasks in hive.store/1: its collections, the task
// document and its index, the counters of tasks by status. Every class that
// reads or writes the store names them from here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "hive/services/store.hpp"
#include "task_model.hpp"

namespace hive::task_manager {

inline constexpr const char* kTasks = "tasks";
inline constexpr const char* kDependencies = "task_deps";  // "<dependency>:<dependent>", body the dependent
inline constexpr const char* kIdempotency = "task_idem";   // key → "<body digest> <task id>"
inline constexpr const char* kQueues = "task_queues";      // queue name → capability key "a,b"
inline constexpr const char* kEventLog = "tasks";          // the durable log of state changes

// Task documents hold payloads and results (up to max_payload_bytes each), and
// a page of them is in memory at once: background scans read small pages. A
// page of 1,000 tasks of 250 KB was +250 MB of RSS at each aging pass.
inline constexpr std::size_t kTaskPage = 32;

// Tasks by status, kept in the transactions that change them: "tasks.status.pending".
inline constexpr const char* kStatusCounters = "tasks.status.";
// Dependency edges whose dependency had not ended when the edge was written,
// less those found since by the dependency's end (Dependencies::settle). At 0
// no task waits on anything: the end of a task looks for no dependents.
// Counted high rather than low: an edge counted but never found (its
// dependency ended while the edge was being written) costs lookups, never a
// missed release.
inline constexpr const char* kPendingEdges = "tasks.pending_edges";
std::string statusCounter(TaskStatus status);

// The edge "`dependent` waits on `dependency`": its body the dependent's id,
// then " pending" when the edge is counted in kPendingEdges (edges written
// before the count have the id alone).
store::Document edgeDocument(const std::string& dependency, const std::string& dependent, bool counted);

store::Document toDocument(const Task& task);

struct Loaded {
  Task task;
  std::uint64_t version = 0;
};
// The task `id` as stored, with storedStatus set.
Result<Loaded> load(store::Transaction& tx, const std::string& id);

// The unfinished tasks this node wrote last, each as the document it committed
// (body and version): a claim or an agent's report starts from it instead of
// reading the task back (two reads a task on its way through, each a round trip
// to PostgreSQL). It is safe because every write of a task names the version
// it read (a compare-and-swap): an entry another node has made stale fails its
// unit of work, which forgets it and runs again from the store
// (UnitOfWork::run). Bounded by kBudgetBytes: past it, everything is
// forgotten at once (entries of tasks another node finished would stay
// otherwise). A task larger than kMaxEntryBytes (a large payload) is not kept:
// its read is small beside the rest of its way.
class RecentTasks {
 public:
  static constexpr std::size_t kBudgetBytes = std::size_t{16} << 20;
  static constexpr std::size_t kMaxEntryBytes = std::size_t{16} << 10;

  std::optional<store::Document> find(const std::string& id) const;
  void remember(const std::string& id, std::string body, std::uint64_t version);
  void forget(const std::string& id);
  void clear();

 private:
  struct Entry {
    std::string body;
    std::uint64_t version = 0;
  };
  static std::size_t cost(const std::string& id, const Entry& entry) {
    return id.size() + entry.body.size() + 64;  // the node and the map's slot
  }
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::size_t bytes_ = 0;
};

// Declares the collections and, for a store written before the counters
// existed, counts its tasks once.
Status declareRecords(store::Store& store);

}  // namespace hive::task_manager
