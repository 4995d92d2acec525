#include "unit_of_work.hpp"

#include <optional>
#include <utility>

#include "concurrency.hpp"
#include "json.hpp"
#include "records.hpp"

namespace hive::task_manager {
namespace {

bool busy(TaskStatus status) { return status == TaskStatus::kAssigned || status == TaskStatus::kRunning; }

}  // namespace

Status Outbox::record(store::Transaction& /*tx: written at the end*/, const Task& task,
                      const std::string& event) {
  if (task.storedStatus != task.status) {
    if (task.storedStatus) --counts_[*task.storedStatus];
    ++counts_[task.status];
    bool was = task.storedStatus && busy(*task.storedStatus);
    if (was != busy(task.status)) busy_[task.queue] += was ? -1 : 1;
  }
  log_.push_back({event, events_.size()});
  events_.push_back({task.id, eventJson(event, task)});
  if (isTerminal(task.status)) settled_.push_back({task.id, task.status});
  return okStatus();
}

Status Outbox::save(store::Transaction& tx, const Task& task, std::uint64_t version,
                    const std::string& event) {
  auto put = tx.put(kTasks, toDocument(task), version);
  if (!put.ok()) return put.status();
  return record(tx, task, event);
}

Status Outbox::writeEvents(store::Transaction& tx) {
  for (const Entry& entry : log_)
    HIVE_TRY(tx.append(kEventLog, entry.type, events_[entry.event].body).status());
  return okStatus();
}

Status Outbox::writeCounts(store::Transaction& tx) {
  for (const auto& [status, delta] : counts_)
    if (delta != 0) HIVE_TRY(tx.addToCounter(statusCounter(status), delta));
  for (const auto& [queue, delta] : busy_)
    if (delta != 0) HIVE_TRY(tx.addToCounter(busyCounter(queue), delta));
  return okStatus();
}

Status UnitOfWork::open() {
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  HIVE_TRY(declareRecords(*store));
  open_ = true;
  return okStatus();
}

Result<ServiceRef<store::Store>> UnitOfWork::store() {
  if (!open_) return unavailable("task_manager is not running");
  auto ref = store_.lease();
  if (!ref) return unavailable("no hive.store/1 provider is running");
  return ref;
}

namespace {

// A publication ticket of one unit of work (EventPublisher::take): given back
// unless its events were handed over.
class Ticket {
 public:
  explicit Ticket(EventPublisher& publisher) : publisher_(publisher) {}
  ~Ticket() { reset(); }
  Ticket(const Ticket&) = delete;
  Ticket& operator=(const Ticket&) = delete;

  void take() {
    reset();
    number_ = publisher_.take();
  }
  void reset() {
    if (number_) publisher_.abandon(*std::exchange(number_, std::nullopt));
  }
  void publish(std::vector<TaskEvent> events) {
    if (number_) publisher_.publish(*std::exchange(number_, std::nullopt), std::move(events));
  }

 private:
  EventPublisher& publisher_;
  std::optional<std::uint64_t> number_;
};

}  // namespace

Result<std::vector<Settled>> UnitOfWork::run(const Work& work) {
  auto store = HIVE_TRY(this->store());
  Outbox outbox;
  Ticket ticket(*publisher_);
  HIVE_TRY(store->transact([&](store::Transaction& tx) {
    ticket.reset();  // a retried transaction starts again
    outbox = Outbox{};
    HIVE_TRY(work(tx, outbox));
    HIVE_TRY(outbox.writeCounts(tx));
    HIVE_TRY(outbox.writeEvents(tx));
    // After the last append: the log's lock, held to the commit, orders the tickets.
    if (!outbox.events_.empty()) ticket.take();
    return okStatus();
  }));
  if (open_) ticket.publish(std::move(outbox.events_));
  return std::move(outbox.settled_);
}

}  // namespace hive::task_manager
