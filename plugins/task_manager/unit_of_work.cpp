#include "unit_of_work.hpp"

#include <chrono>
#include <cstdio>
#include <optional>
#include <random>
#include <utility>

#include "concurrency.hpp"
#include "hive/services/tracing.hpp"
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
  // `created`: the creation of a task whose client traces it (it sent the traceparent).
  if ((tracing_ == TransactionSpans::kAll ||
       (tracing_ == TransactionSpans::kCreated && event == "task.created" && task.clientTraced)) &&
      task.traceparent.size() == 55 && (task.traceparent[54] & 1) != 0)
    traced_.emplace(task.traceparent, std::make_pair(task.id, event));
  log_.push_back({event, events_.size()});
  events_.push_back({task.id, eventJson(event, task)});
  if (isTerminal(task.status)) settled_.push_back({task.id, task.status});
  return okStatus();
}

Status Outbox::save(store::Transaction& tx, const Task& task, std::uint64_t version,
                    const std::string& event) {
  store::Document document = toDocument(task);
  // Kept for the node's next change of the task, unless it has finished or is large.
  bool keep =
      recent_ != nullptr && !isTerminal(task.status) && document.body.size() <= RecentTasks::kMaxEntryBytes;
  std::string body = keep ? document.body : std::string();
  auto put = tx.put(kTasks, std::move(document), version);
  if (!put.ok()) return put.status();
  if (recent_ != nullptr) written_.push_back({task.id, std::move(body), put->version, keep});
  return record(tx, task, event);
}

Result<Loaded> Outbox::loadLeased(store::Transaction& tx, const std::string& id) {
  if (recalled_ != nullptr)
    if (auto kept = recent_->find(id)) {
      auto task = fromStoredJson(kept->body);
      if (task.ok()) {
        recalled_->push_back(id);
        task->storedStatus = task->status;
        return Loaded{std::move(task).value(), kept->version};
      }
    }
  return load(tx, id);
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
  recent_.clear();
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

std::int64_t nowUnixNano() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One span per sampled trace the transaction touched.
void recordSpans(tracing::SpanSink& sink, const Outbox::Traced& traced, std::int64_t start,
                 const Status& done) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  std::int64_t end = nowUnixNano();
  for (const auto& [traceparent, touched] : traced) {
    tracing::Span span;
    span.traceId = traceparent.substr(3, 32);
    char id[17];
    std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(random() | 1));
    span.spanId = id;
    span.parentSpanId = traceparent.substr(36, 16);
    span.name = "store.transaction";
    span.startUnixNano = start;
    span.endUnixNano = end;
    span.ok = done.ok();
    if (!done.ok()) span.error = done.message();
    span.attributes = {{"hive.task.id", touched.first},
                       {"hive.task.event", touched.second},
                       {"hive.transaction.tasks", std::to_string(traced.size())}};
    sink.record(std::move(span));
  }
}

}  // namespace

Result<std::vector<Settled>> UnitOfWork::run(const Work& work) {
  std::vector<std::string> recalled;
  auto done = attempt(work, &recalled);
  if (done.ok() || recalled.empty() || done.status().code() != StatusCode::kAborted) return done;
  // What this node remembered may be stale (another node wrote since): again,
  // from the store.
  for (const auto& id : recalled) recent_.forget(id);
  return attempt(work, nullptr);
}

Result<std::vector<Settled>> UnitOfWork::attempt(const Work& work, std::vector<std::string>* recalled) {
  auto store = HIVE_TRY(this->store());
  const std::int64_t start = nowUnixNano();
  Outbox outbox;
  Ticket ticket(*publisher_);
  Status done = store->transact([&](store::Transaction& tx) {
    ticket.reset();  // a retried transaction starts again
    outbox = Outbox{};
    outbox.tracing_ = spans_;
    outbox.recent_ = &recent_;
    outbox.recalled_ = recalled;
    HIVE_TRY(work(tx, outbox));
    HIVE_TRY(outbox.writeCounts(tx));
    HIVE_TRY(outbox.writeEvents(tx));
    // After the last append: the log's lock, held to the commit, orders the tickets.
    if (!outbox.events_.empty()) ticket.take();
    return okStatus();
  });
  // The exporter is looked up only when there is a span to give it.
  if (!outbox.traced_.empty())
    if (auto sink = services_.get<tracing::SpanSink>(); sink.ok())
      recordSpans(**sink, outbox.traced_, start, done);
  HIVE_TRY(done);
  for (auto& w : outbox.written_) {
    if (w.keep)
      recent_.remember(w.id, std::move(w.body), w.version);
    else
      recent_.forget(w.id);
  }
  if (open_) ticket.publish(std::move(outbox.events_));
  return std::move(outbox.settled_);
}

}  // namespace hive::task_manager
