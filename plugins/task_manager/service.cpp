#include "service.hpp"

#include <algorithm>

#include "records.hpp"

namespace hive::task_manager {

Tasks::Tasks(PluginContext& context, ServiceHandle<store::Store> store, Options options, const Clock& clock)
    : context_(context),
      options_(std::move(options)),
      clock_(clock),
      workers_(context.services(), "task_manager.work"),
      publisher_(std::make_shared<EventPublisher>(context)),
      work_(context.services(), std::move(store), publisher_, options_.transactionSpans),
      queues_(context.services(), work_, clock_, [this] { wake(); }),
      dependencies_(work_, queues_, clock_, context.log(), [this] { wake(); }),
      submissions_(context, work_, queues_, dependencies_, clock_, [this] { wake(); }),
      leases_(work_, queues_, dependencies_, options_, clock_, context.log()),
      retention_(work_, options_, clock_, context.log()),
      sweeper_(work_, queues_, dependencies_, retention_, options_, clock_, context.log(),
               [this] { wake(); }) {
  workers_.onError([this](const std::string&, const std::string& what) {
    context_.log().warn("an onWork callback threw: " + what);
  });
}

Tasks::~Tasks() { close(); }

Status Tasks::open() {
  HIVE_TRY(work_.open());
  queues_.open();
  return okStatus();
}

void Tasks::close() {
  work_.close();
  publisher_->close();
  queues_.close();  // waits for a running wake-up
}

void Tasks::wake() {
  if (work_.isOpen()) workers_.fire();
}

Status Tasks::succeeded(const std::string& taskId, const std::string& leaseToken, const std::string& result) {
  return leases_.finish(Report{taskId, leaseToken, Outcome::kSucceeded, result, {}, tasks::Retry::kAllowed});
}

Status Tasks::failed(const std::string& taskId, const std::string& leaseToken, const std::string& error,
                     tasks::Retry retry) {
  return leases_.finish(Report{taskId, leaseToken, Outcome::kFailed, {}, error, retry});
}

Status Tasks::released(const std::string& taskId, const std::string& leaseToken, const std::string& reason) {
  return leases_.finish(Report{taskId, leaseToken, Outcome::kReleased, {}, reason, tasks::Retry::kAllowed});
}

Result<Task> Tasks::get(const std::string& id) {
  auto store = HIVE_TRY(work_.store());
  auto document = store->get(kTasks, id);
  if (!document.ok()) {
    if (document.status().code() == StatusCode::kNotFound) return notFound("no task " + id);
    return document.status();
  }
  return fromStoredJson(document->body);
}

Result<TaskPage> Tasks::list(const std::map<std::string, std::string>& equals, std::size_t limit,
                             const std::string& cursor) {
  auto store = HIVE_TRY(work_.store());
  auto page = HIVE_TRY(store->list({kTasks, equals, limit, cursor}));
  TaskPage out;
  for (const auto& d : page.items) out.items.push_back(HIVE_TRY(fromStoredJson(d.body)));
  out.nextCursor = page.nextCursor;
  return out;
}

Result<std::vector<store::Event>> Tasks::events(std::uint64_t afterId, std::size_t limit) {
  auto store = HIVE_TRY(work_.store());
  return store->read(kEventLog, afterId, limit);
}

Result<Task> Tasks::cancel(const std::string& id) {
  Task cancelled;
  HIVE_TRY(commit(work_, dependencies_, [&](store::Transaction& tx, Outbox& outbox) -> Status {
    auto loaded = load(tx, id);
    if (!loaded.ok()) {
      if (loaded.status().code() == StatusCode::kNotFound) return notFound("no task " + id);
      return loaded.status();
    }
    Task t = loaded->task;
    if (isTerminal(t.status))
      return failedPrecondition("task " + id + " is already " + std::string(statusName(t.status)));
    if (Status removed = tx.cancel(t.queue, t.id); !removed.ok() && removed.code() != StatusCode::kNotFound)
      return removed;
    t.status = TaskStatus::kCancelled;
    t.leaseToken.clear();
    t.waitingOn.clear();
    t.finishedAtMs = t.updatedAtMs = clock_.nowMs();
    HIVE_TRY(outbox.save(tx, t, loaded->version, "task.cancelled"));
    cancelled = std::move(t);
    return okStatus();
  }));
  return cancelled;
}

Result<TaskStats> Tasks::stats() {
  auto store = HIVE_TRY(work_.store());
  auto counts = HIVE_TRY(store->counters(kStatusCounters));
  TaskStats stats;
  for (TaskStatus status : kAllStatuses) {
    auto found = counts.find(statusCounter(status));
    stats.byStatus.emplace_back(status, found == counts.end() ? 0 : std::max<std::int64_t>(found->second, 0));
  }
  stats.queues = HIVE_TRY(depth());
  return stats;
}

Result<std::vector<tasks::QueueDepth>> Tasks::depth() {
  auto store = HIVE_TRY(work_.store());
  queues_.refresh(Refresh::kIfStale);
  std::vector<tasks::QueueDepth> out;
  for (const auto& [queue, capabilities] : queues_.all())
    out.push_back({capabilityKey(capabilities), HIVE_TRY(store->depth(queue))});
  return out;
}

}  // namespace hive::task_manager
