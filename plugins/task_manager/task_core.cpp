#include "task_core.hpp"

#include <algorithm>
#include <random>

#include "hive/services/bus.hpp"

namespace hive::task_manager {
namespace {

constexpr const char* kTasks = "tasks";
constexpr const char* kDependencies = "task_deps";
constexpr const char* kIdempotency = "task_idem";
constexpr const char* kQueues = "task_queues";
constexpr const char* kEventLog = "tasks";

store::Document toDocument(const Task& task) {
  store::Document d;
  d.id = task.id;
  d.body = toStoredJson(task);
  d.index = {{"status", std::string(statusName(task.status))},
             {"type", task.type},
             {"agent", task.agent},
             {"capabilities", capabilityKey(task.capabilities)},
             {"waiting", task.waitingOn.empty() ? "0" : "1"}};
  return d;
}

struct Loaded {
  Task task;
  std::uint64_t version = 0;
};

Result<Loaded> load(store::Transaction& tx, const std::string& id) {
  auto document = tx.get(kTasks, id);
  if (!document.ok()) return document.status();
  auto task = fromStoredJson(document->body);
  if (!task.ok()) return task.status();
  task->storedStatus = task->status;
  return Loaded{std::move(task).value(), document->version};
}

// Task documents hold payloads and results (up to max_payload_bytes each), and
// a page of them is in memory at once: background scans read small pages. A
// page of 1,000 tasks of 250 KB was +250 MB of RSS at each aging pass.
constexpr std::size_t kTaskPage = 32;

// "1 attempt", "3 attempts".
std::string attemptCount(std::uint32_t attempts) {
  return std::to_string(attempts) + (attempts == 1 ? " attempt" : " attempts");
}

// Why the current attempt of `t` ended when its lease ran out.
std::string timedOut(const Task& t) {
  std::string after =
      t.timeoutMs % 1000 == 0 ? std::to_string(t.timeoutMs / 1000) + "s" : std::to_string(t.timeoutMs) + "ms";
  return "timed out after " + after + " (attempt " + std::to_string(t.attempts) + " of " +
         std::to_string(t.maxAttempts) + (t.agent.empty() ? "" : ", agent " + t.agent) + ")";
}

std::string gaveUp(std::uint32_t attempts, const std::string& lastError) {
  return "gave up after " + attemptCount(attempts) + (lastError.empty() ? "" : "; last error: " + lastError);
}

// Tasks by status, kept in the transactions that change them: "tasks.status.pending".
constexpr const char* kStatusCounters = "tasks.status.";
// Set once the counters hold every task (after the count of a store written
// before counters existed).
constexpr const char* kCountedMarker = "tasks.counted";

std::string statusCounter(TaskStatus status) { return kStatusCounters + std::string(statusName(status)); }

std::string eventJson(const std::string& event, const Task& task) {
  return "{\"event\":" + http::jsonQuote(event) + ",\"task\":" + toEventJson(task) + "}";
}

}  // namespace

struct TaskCore::Outbox {
  std::vector<std::pair<std::string, std::string>> events;  // topic suffix (task id), JSON
  std::vector<std::string> settled;                         // tasks that reached a terminal state
  std::vector<bool> succeeded;
  // Changes of the counts by status, written once at the end of the unit of
  // work (a group of 50 submissions is one counter update, not 50).
  std::map<TaskStatus, std::int64_t> counts;

  Status writeCounts(store::Transaction& tx) {
    for (const auto& [status, delta] : counts)
      if (delta != 0) HIVE_TRY(tx.addToCounter(statusCounter(status), delta));
    return okStatus();
  }

  // Records a state change of `task` in the durable event log (same transaction)
  // and for publication after commit.
  Status record(store::Transaction& tx, const Task& task, const std::string& event) {
    if (task.storedStatus != task.status) {
      if (task.storedStatus) --counts[*task.storedStatus];
      ++counts[task.status];
    }
    std::string body = eventJson(event, task);
    auto appended = tx.append(kEventLog, event, body);
    if (!appended.ok()) return appended.status();
    events.emplace_back(task.id, std::move(body));
    if (isTerminal(task.status)) {
      settled.push_back(task.id);
      succeeded.push_back(task.status == TaskStatus::kSucceeded);
    }
    return okStatus();
  }
  Status save(store::Transaction& tx, const Task& task, std::uint64_t version, const std::string& event) {
    auto put = tx.put(kTasks, toDocument(task), version);
    if (!put.ok()) return put.status();
    return record(tx, task, event);
  }
};

class TaskCore::WorkSubscription final : public Subscription {
 public:
  WorkSubscription(TaskCore& core, std::uint64_t id) : core_(core), id_(id) {}
  ~WorkSubscription() override {
    std::lock_guard lock(core_.workMutex_);
    core_.workers_.erase(id_);
  }

 private:
  TaskCore& core_;
  std::uint64_t id_;
};

TaskCore::TaskCore(PluginContext& context, ServiceHandle<store::Store> store, Options options)
    : context_(context), store_(std::move(store)), options_(std::move(options)) {}

TaskCore::~TaskCore() { close(); }

Result<ServiceRef<store::Store>> TaskCore::storeRef() {
  if (!open_) return unavailable("task_manager is not running");
  auto ref = store_.lease();
  if (!ref) return unavailable("no hive.store/1 provider is running");
  return ref;
}

Status TaskCore::open() {
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  HIVE_TRY(store->declareCollection({kTasks, {"status", "type", "agent", "capabilities", "waiting"}}));
  HIVE_TRY(store->declareCollection({kDependencies, {"dep"}}));
  HIVE_TRY(store->declareCollection({kIdempotency, {}}));
  HIVE_TRY(store->declareCollection({kQueues, {}}));
  HIVE_TRY(countExisting(*store), "counting the stored tasks");
  open_ = true;
  refreshQueues(true);
  storeWatch_ =
      context_.services().watch(store::Store::kServiceId, [this](const ServiceEvent&) { resubscribe(); });
  return okStatus();
}

void TaskCore::resubscribe() {
  std::vector<std::unique_ptr<Subscription>> old;
  std::vector<std::string> queues;
  {
    std::lock_guard lock(queuesMutex_);
    old.swap(claimable_);
    for (const auto& [queue, capabilities] : queues_) queues.push_back(queue);
  }
  old.clear();
  auto store = store_.lease();
  if (!store || !open_) return;
  std::vector<std::unique_ptr<Subscription>> fresh;
  for (const auto& queue : queues) fresh.push_back(store->onClaimable(queue, [this] { notifyWork(); }));
  std::lock_guard lock(queuesMutex_);
  for (auto& s : fresh) claimable_.push_back(std::move(s));
}

void TaskCore::close() {
  open_ = false;
  publishRoom_.notify_all();
  storeWatch_.reset();  // waits for a running callback
  std::vector<std::unique_ptr<Subscription>> claimable;
  {
    std::lock_guard lock(queuesMutex_);
    claimable.swap(claimable_);
  }
  claimable.clear();  // outside the lock: a wake-up may be running
}

Status TaskCore::transact(const std::function<Status(store::Transaction&, Outbox&)>& work) {
  auto store = HIVE_TRY(storeRef());
  Outbox outbox;
  Status done = store->transact([&](store::Transaction& tx) {
    outbox = Outbox{};
    HIVE_TRY(work(tx, outbox));
    return outbox.writeCounts(tx);
  });
  if (!done.ok()) return done;
  publish(outbox);
  for (std::size_t i = 0; i < outbox.settled.size(); ++i)
    settleDependents(outbox.settled[i], outbox.succeeded[i]);
  return okStatus();
}

// At most this many events wait for the bus; a store faster than the bus then
// waits for it rather than filling memory.
constexpr std::size_t kPublishBacklog = 65536;

void TaskCore::publish(const Outbox& outbox) {
  if (outbox.events.empty() || !open_) return;
  {
    std::unique_lock lock(publishMutex_);
    publishRoom_.wait(lock, [&] { return publishing_.size() < kPublishBacklog || !open_; });
    publishing_.insert(publishing_.end(), outbox.events.begin(), outbox.events.end());
    if (std::exchange(publisherRunning_, true)) return;
  }
  context_.blocking().post([self = shared_from_this()] { self->drainPublishing(); });
}

void TaskCore::drainPublishing() {
  for (;;) {
    std::deque<std::pair<std::string, std::string>> events;
    {
      std::lock_guard lock(publishMutex_);
      if (publishing_.empty()) {
        publisherRunning_ = false;
        publishRoom_.notify_all();
        return;
      }
      events.swap(publishing_);
    }
    publishRoom_.notify_all();
    auto bus = context_.services().get<bus::Bus>();
    if (!bus.ok()) continue;  // no bus: the durable event log still has them
    for (const auto& [id, body] : events) {
      for (const std::string& topic : {std::string("tasks.") + id, std::string("tasks")}) {
        auto published = (*bus)->publish(topic, body);
        if (!published.ok())
          context_.log().warn("event of task " + id + " not published on " + topic + ": " +
                              published.status().message());
      }
    }
  }
}

bool TaskCore::idle() {
  std::lock_guard lock(publishMutex_);
  return !publisherRunning_;
}

void TaskCore::remember(const std::string& queue, const std::vector<std::string>& capabilities) {
  std::unique_ptr<Subscription> subscription;
  {
    std::lock_guard lock(queuesMutex_);
    if (!queues_.emplace(queue, capabilities).second) return;
  }
  if (auto store = store_.lease()) subscription = store->onClaimable(queue, [this] { notifyWork(); });
  std::lock_guard lock(queuesMutex_);
  if (subscription && open_) claimable_.push_back(std::move(subscription));
}

void TaskCore::refreshQueues(bool force) {
  {
    std::lock_guard lock(queuesMutex_);
    auto now = std::chrono::steady_clock::now();
    if (!force && now - queuesRefreshed_ < std::chrono::seconds(2)) return;
    queuesRefreshed_ = now;
  }
  auto store = store_.lease();
  if (!store) return;
  std::string cursor;
  do {
    auto page = store->list({kQueues, {}, 1000, cursor});
    if (!page.ok()) return;
    for (const auto& d : page->items) {
      // The body is the capability key: "a,b".
      std::vector<std::string> capabilities;
      const std::string& key = d.body;
      std::size_t at = 0;
      for (std::size_t next; at <= key.size(); at = next + 1) {
        next = key.find(',', at);
        if (next == std::string::npos) next = key.size();
        if (next > at) capabilities.push_back(key.substr(at, next - at));
      }
      remember(d.id, capabilities);
    }
    cursor = page->nextCursor;
  } while (!cursor.empty());
}

std::map<std::string, std::vector<std::string>> TaskCore::knownQueues() {
  std::lock_guard lock(queuesMutex_);
  return queues_;
}

void TaskCore::notifyWork() {
  if (!open_) return;
  std::lock_guard lock(workMutex_);
  for (auto& [id, callback] : workers_) callback();
}

std::unique_ptr<Subscription> TaskCore::onWork(std::function<void()> callback) {
  std::lock_guard lock(workMutex_);
  std::uint64_t id = ++nextWorker_;
  workers_.emplace(id, std::move(callback));
  return std::make_unique<WorkSubscription>(*this, id);
}

std::chrono::milliseconds TaskCore::backoff(std::uint32_t attempts) const {
  thread_local std::mt19937_64 random{std::random_device{}()};
  double delay = static_cast<double>(options_.retryBase.count());
  for (std::uint32_t i = 1; i < attempts && delay < options_.retryMax.count(); ++i) delay *= 2;
  delay = std::min(delay, static_cast<double>(options_.retryMax.count()));
  // Full jitter over the upper half: retries of many tasks spread out.
  double factor = 0.5 + std::uniform_real_distribution<double>(0.0, 0.5)(random);
  return std::chrono::milliseconds(static_cast<std::int64_t>(delay * factor));
}

// ---- submission and queries ----

struct TaskCore::Submission {
  Task task;  // id, queue and key set
  std::string idempotencyKey;
  std::string bodyDigest;
  SubmitDone done;  // empty for submit()
  // Filled by stage():
  Submitted out;
  std::vector<http::FieldError> errors;
  Status status;
};

Status TaskCore::stage(store::Transaction& tx, Outbox& outbox, Submission& s) {
  s.out = Submitted{};
  s.errors.clear();
  Task t = s.task;
  const std::string& key = s.idempotencyKey;
  if (!key.empty()) {
    auto seen = tx.get(kIdempotency, key);
    if (seen.ok()) {
      if (seen->body.rfind(s.bodyDigest + " ", 0) != 0) {
        s.errors.push_back({"Idempotency-Key", "was already used with another request body"});
        return invalidArgument("Idempotency-Key reused with another body");
      }
      auto earlier = load(tx, seen->body.substr(s.bodyDigest.size() + 1));
      if (!earlier.ok()) return earlier.status();
      s.out.task = earlier->task;
      s.out.replayed = true;
      return okStatus();
    }
    if (seen.status().code() != StatusCode::kNotFound) return seen.status();
  }
  std::int64_t now = nowMs();
  t.createdAtMs = t.updatedAtMs = now;
  bool dependencyFailed = false;
  std::string failedDependency;
  for (std::size_t i = 0; i < t.dependsOn.size(); ++i) {
    auto dependency = load(tx, t.dependsOn[i]);
    if (!dependency.ok()) {
      if (dependency.status().code() == StatusCode::kNotFound) {
        s.errors.push_back({"/depends_on/" + std::to_string(i), "no task " + t.dependsOn[i]});
        continue;
      }
      return dependency.status();
    }
    TaskStatus status = dependency->task.status;
    if (status == TaskStatus::kSucceeded) continue;
    if (isTerminal(status)) {
      dependencyFailed = true;
      failedDependency = t.dependsOn[i] + " is " + std::string(statusName(status));
    }
    t.waitingOn.push_back(t.dependsOn[i]);
  }
  if (!s.errors.empty()) return invalidArgument("the task is not valid");
  for (const auto& dependency : t.dependsOn) {
    store::Document edge;
    edge.id = dependency + ":" + t.id;
    edge.body = t.id;
    edge.index = {{"dep", dependency}};
    auto put = tx.put(kDependencies, std::move(edge), store::kAnyVersion);
    if (!put.ok()) return put.status();
  }
  if (!key.empty()) {
    store::Document seen;
    seen.id = key;
    seen.body = s.bodyDigest + " " + t.id;
    auto put = tx.put(kIdempotency, std::move(seen), store::kMustNotExist);
    if (!put.ok()) return put.status();
  }
  // A queue this node knows is in the store already (it learnt it from there,
  // or after the commit that wrote it): rewriting it on every submission only
  // cost a write.
  if (!knownQueue(t.queue)) {
    store::Document queueDoc;
    queueDoc.id = t.queue;
    queueDoc.body = capabilityKey(t.capabilities);
    if (auto put = tx.put(kQueues, std::move(queueDoc), store::kAnyVersion); !put.ok()) return put.status();
  }
  if (dependencyFailed) {
    t.status = TaskStatus::kDead;
    t.error = "blocked: dependency " + failedDependency;
    t.finishedAtMs = now;
    t.waitingOn.clear();
  } else if (t.waitingOn.empty()) {
    auto queued = tx.enqueue({t.queue, t.id, t.priority, t.notBeforeMs, {}, t.id});
    if (!queued.ok()) return queued.status();
    t.queuedAtMs = now;
  }
  auto put = tx.put(kTasks, toDocument(t), store::kMustNotExist);
  if (!put.ok()) return put.status();
  HIVE_TRY(outbox.record(tx, t, t.status == TaskStatus::kDead ? "task.dead" : "task.created"));
  s.out.task = std::move(t);
  return okStatus();
}

void TaskCore::settled(const Submission& s) {
  if (s.out.replayed) return;
  remember(s.task.queue, s.task.capabilities);
}

bool TaskCore::knownQueue(const std::string& queue) {
  std::lock_guard lock(queuesMutex_);
  return queues_.count(queue) != 0;
}

namespace {
void prepare(Task& task, const std::string& idempotencyKey) {
  task.id = newTaskId();
  task.idempotencyKey = idempotencyKey;
  task.queue = queueFor(task.capabilities);
}
}  // namespace

// A group this large is one transaction of a few MB at most (payloads are
// limited); more waiting submissions go into the next group.
constexpr std::size_t kSubmitGroup = 256;
constexpr int kSubmitDrains = 4;

void TaskCore::submitAsync(Task task, std::string idempotencyKey, std::string bodyDigest, SubmitDone done) {
  prepare(task, idempotencyKey);
  {
    std::lock_guard lock(submitMutex_);
    submissions_.push_back(
        {std::move(task), std::move(idempotencyKey), std::move(bodyDigest), std::move(done), {}, {}, {}});
    // A running drain takes it. When submissions pile up behind it (a store
    // whose statements are network round trips: PostgreSQL), another one starts,
    // up to kSubmitDrains, so that several groups are in flight; on SQLite
    // one drain keeps up and its groups stay large.
    bool more = submitDrains_ < kSubmitDrains && submissions_.size() >= kSubmitGroup / 8;
    if (submitDrains_ > 0 && !more) return;
    ++submitDrains_;
  }
  context_.blocking().post([this] { drainSubmissions(); });
}

void TaskCore::drainSubmissions() {
  for (;;) {
    std::vector<Submission> group;
    {
      std::lock_guard lock(submitMutex_);
      if (submissions_.empty()) {
        --submitDrains_;
        return;
      }
      std::size_t n = std::min(submissions_.size(), kSubmitGroup);
      group.assign(std::make_move_iterator(submissions_.begin()),
                   std::make_move_iterator(submissions_.begin() + static_cast<std::ptrdiff_t>(n)));
      submissions_.erase(submissions_.begin(), submissions_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    // All together; when one of them is refused (a bad dependency, a reused
    // key) or the group fails, each is tried alone so that it gets its own answer.
    Status together =
        group.size() == 1 ? internalError("alone") : transact([&](store::Transaction& tx, Outbox& outbox) {
          for (auto& s : group) HIVE_TRY(stage(tx, outbox, s));
          return okStatus();
        });
    bool woke = false;
    for (auto& s : group) {
      Status status = together;
      if (!together.ok())
        status = transact([&](store::Transaction& tx, Outbox& outbox) { return stage(tx, outbox, s); });
      if (status.ok()) {
        settled(s);
        woke = woke || (!s.out.replayed && s.out.task.waitingOn.empty() && !isTerminal(s.out.task.status));
      }
      s.status = std::move(status);
    }
    if (woke) notifyWork();
    for (auto& s : group) {
      if (s.status.ok())
        s.done(std::move(s.out), {});
      else
        s.done(std::move(s.status), std::move(s.errors));
    }
  }
}

Result<Task> TaskCore::get(const std::string& id) {
  auto store = HIVE_TRY(storeRef());
  auto document = store->get(kTasks, id);
  if (!document.ok()) {
    if (document.status().code() == StatusCode::kNotFound) return notFound("no task " + id);
    return document.status();
  }
  return fromStoredJson(document->body);
}

Result<TaskPage> TaskCore::list(const std::map<std::string, std::string>& equals, std::size_t limit,
                                const std::string& cursor) {
  auto store = HIVE_TRY(storeRef());
  auto page = store->list({kTasks, equals, limit, cursor});
  if (!page.ok()) return page.status();
  TaskPage out;
  for (const auto& d : page->items) {
    auto task = fromStoredJson(d.body);
    if (!task.ok()) return task.status();
    out.items.push_back(std::move(task).value());
  }
  out.nextCursor = page->nextCursor;
  return out;
}

Result<std::vector<store::Event>> TaskCore::events(std::uint64_t afterId, std::size_t limit) {
  auto store = HIVE_TRY(storeRef());
  return store->read(kEventLog, afterId, limit);
}

Result<Task> TaskCore::cancel(const std::string& id) {
  Task cancelled;
  Status done = transact([&](store::Transaction& tx, Outbox& outbox) -> Status {
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
    t.finishedAtMs = t.updatedAtMs = nowMs();
    HIVE_TRY(outbox.save(tx, t, loaded->version, "task.cancelled"));
    cancelled = t;
    return okStatus();
  });
  if (!done.ok()) return done;
  return cancelled;
}

Result<std::string> TaskCore::stats() {
  auto store = HIVE_TRY(storeRef());
  auto counts = store->counters(kStatusCounters);
  if (!counts.ok()) return counts.status();
  std::string byStatus;
  for (int s = 0; s <= static_cast<int>(TaskStatus::kDead); ++s) {
    auto status = static_cast<TaskStatus>(s);
    auto found = counts->find(statusCounter(status));
    std::int64_t count = found == counts->end() ? 0 : std::max<std::int64_t>(found->second, 0);
    byStatus += (byStatus.empty() ? "" : ",") + http::jsonQuote(std::string(statusName(status))) + ":" +
                std::to_string(count);
  }
  auto queues = depth();
  if (!queues.ok()) return queues.status();
  std::string queueJson;
  for (const auto& q : *queues) {
    std::string priorities;
    std::uint64_t total = 0;
    for (const auto& [priority, count] : q.byPriority) {
      priorities += (priorities.empty() ? "" : ",") + http::jsonQuote(std::to_string(priority)) + ":" +
                    std::to_string(count);
      total += count;
    }
    queueJson += std::string(queueJson.empty() ? "" : ",") +
                 "{\"capabilities\":" + http::jsonQuote(q.capabilities) +
                 ",\"waiting\":" + std::to_string(total) + ",\"by_priority\":{" + priorities + "}}";
  }
  return "{\"by_status\":{" + byStatus + "},\"queues\":[" + queueJson + "]}";
}

Result<std::vector<tasks::QueueDepth>> TaskCore::depth() {
  auto store = HIVE_TRY(storeRef());
  refreshQueues(false);
  std::vector<tasks::QueueDepth> out;
  for (const auto& [queue, capabilities] : knownQueues()) {
    auto d = store->depth(queue);
    if (!d.ok()) return d.status();
    out.push_back({capabilityKey(capabilities), *d});
  }
  return out;
}

// ---- the orchestrator's side ----

Status TaskCore::assign(store::Transaction& tx, Outbox& outbox, const std::string& queue,
                        const store::QueueItem& item, const std::string& agent,
                        tasks::Assignment& assignment) {
  auto loaded = load(tx, item.id);
  if (!loaded.ok()) {
    // A queue item without its task: drop it.
    if (loaded.status().code() == StatusCode::kNotFound) return tx.complete(queue, item.id, item.leaseToken);
    return loaded.status();
  }
  Task t = loaded->task;
  if (isTerminal(t.status)) return tx.complete(queue, item.id, item.leaseToken);
  std::int64_t now = nowMs();
  // Still leased in the task: the store handed the item out again because
  // that lease ran out before the sweep saw it. Say so.
  if (t.status == TaskStatus::kAssigned || t.status == TaskStatus::kRunning) t.error = timedOut(t);
  if (item.attempts > t.maxAttempts) {
    HIVE_TRY(tx.complete(queue, item.id, item.leaseToken));
    t.status = TaskStatus::kDead;
    t.error = gaveUp(t.maxAttempts, t.error);
    t.leaseToken.clear();
    t.finishedAtMs = t.updatedAtMs = now;
    return outbox.save(tx, t, loaded->version, "task.dead");
  }
  t.status = TaskStatus::kAssigned;
  t.agent = agent;
  t.leaseToken = item.leaseToken;
  t.attempts = item.attempts;
  t.leaseExpiresMs = now + t.timeoutMs;
  t.updatedAtMs = now;
  HIVE_TRY(outbox.save(tx, t, loaded->version, "task.assigned"));
  assignment = {t.id,
                t.leaseToken,
                t.type,
                t.title,
                t.payload,
                t.capabilities,
                t.priority,
                t.attempts,
                std::chrono::milliseconds(t.timeoutMs),
                t.leaseExpiresMs,
                toApiJson(t)};
  return okStatus();
}

Result<std::vector<tasks::Assignment>> TaskCore::claimOneByOne(store::Store& store, const std::string& queue,
                                                               const std::string& agent, std::size_t max) {
  std::vector<tasks::Assignment> out;
  auto items = store.claim({queue, agent, options_.claimLease, max, 1});
  if (!items.ok()) return items.status();
  for (const auto& item : *items) {
    tasks::Assignment assignment;
    Status done = transact([&](store::Transaction& tx, Outbox& outbox) {
      assignment = {};
      return assign(tx, outbox, queue, item, agent, assignment);
    });
    if (!done.ok()) {
      context_.log().warn("claim of task " + item.id + " by " + agent + " not recorded: " + done.message());
      continue;  // its lease expires and the sweep puts it back
    }
    if (assignment.taskId.empty()) continue;
    auto extended = store.extend(queue, item.id, item.leaseToken, assignment.timeout);
    if (!extended.ok()) {
      context_.log().warn("task " + item.id + ": lease not extended: " + extended.status().message());
      continue;
    }
    out.push_back(std::move(assignment));
  }
  return out;
}

Result<std::vector<tasks::Assignment>> TaskCore::claim(const std::string& agent,
                                                       const std::vector<std::string>& capabilities,
                                                       std::size_t max) {
  auto store = HIVE_TRY(storeRef());
  std::vector<tasks::Assignment> out;
  // The queues this agent can serve, best waiting priority first.
  std::vector<std::pair<int, std::string>> ranked;
  for (const auto& [queue, required] : knownQueues()) {
    if (!covers(capabilities, required)) continue;
    auto d = store->depth(queue);
    if (!d.ok() || d->empty()) continue;
    int best = 0;
    for (const auto& [priority, count] : *d)
      if (count > 0) best = std::max(best, priority);
    if (best > 0) ranked.emplace_back(best, queue);
  }
  if (ranked.empty()) refreshQueues(false);
  std::sort(ranked.begin(), ranked.end(), std::greater<>());
  for (const auto& [best, queue] : ranked) {
    if (out.size() >= max) break;
    // Claim, assignment and the lease for the whole attempt in one transaction.
    std::vector<tasks::Assignment> batch;
    Status together = transact([&](store::Transaction& tx, Outbox& outbox) -> Status {
      batch.clear();
      auto items = tx.claim({queue, agent, options_.claimLease, max - out.size(), 1});
      if (!items.ok()) return items.status();
      for (const auto& item : *items) {
        tasks::Assignment assignment;
        HIVE_TRY(assign(tx, outbox, queue, item, agent, assignment));
        if (assignment.taskId.empty()) continue;
        // The lease now covers the whole attempt: the timeout is enforced by its expiry.
        auto extended = tx.extend(queue, item.id, item.leaseToken, assignment.timeout);
        if (!extended.ok()) return extended.status();
        batch.push_back(std::move(assignment));
      }
      return okStatus();
    });
    if (!together.ok()) {
      // One of them cannot be recorded (a task changed meanwhile, or unreadable):
      // item by item, so that only that one waits for its claim lease to expire.
      context_.log().debug("claim by " + agent + " in one transaction failed (" + together.message() +
                           "); one by one");
      batch = HIVE_TRY(claimOneByOne(*store, queue, agent, max - out.size()));
    }
    for (auto& assignment : batch) out.push_back(std::move(assignment));
  }
  return out;
}

Status TaskCore::stale(const std::string& taskId, const std::string& leaseToken, const std::string& what) {
  (void)transact([&](store::Transaction& tx, Outbox& outbox) -> Status {
    auto loaded = load(tx, taskId);
    if (!loaded.ok()) return loaded.status();
    Task t = loaded->task;
    ++t.staleReports;
    auto put = tx.put(kTasks, toDocument(t), loaded->version);
    if (!put.ok()) return put.status();
    std::string body = "{\"event\":\"task.stale_report\",\"task_id\":" + http::jsonQuote(taskId) +
                       ",\"report\":" + http::jsonQuote(what) + "}";
    auto appended = tx.append(kEventLog, "task.stale_report", body);
    (void)outbox;
    return appended.ok() ? okStatus() : appended.status();
  });
  context_.log().warn("task " + taskId + ": " + what + " with a stale lease refused");
  (void)leaseToken;
  return failedPrecondition("stale lease: task " + taskId +
                            " is no longer leased with this token (it expired or went to another agent)");
}

Status TaskCore::reportIn(store::Transaction& tx, Outbox& outbox, const std::string& taskId,
                          const std::string& leaseToken, const LeasedChange& change,
                          const std::function<bool(const Task&)>& repeats, bool& refused, bool& repeated) {
  refused = false;
  repeated = false;
  auto loaded = load(tx, taskId);
  if (!loaded.ok()) return loaded.status();
  Task t = loaded->task;
  if (leaseToken.empty() || t.leaseToken != leaseToken || isTerminal(t.status)) {
    if (!leaseToken.empty() && t.reportedLease == leaseToken && repeats && repeats(t)) {
      repeated = true;  // nothing to write
      return okStatus();
    }
    refused = true;
    return failedPrecondition("stale");
  }
  return change(tx, outbox, t, loaded->version, refused);
}

Status TaskCore::report(const std::string& taskId, const std::string& leaseToken, const std::string& what,
                        const LeasedChange& change, const std::function<bool(const Task&)>& repeats) {
  bool refused = false, repeated = false;
  Status done = transact([&](store::Transaction& tx, Outbox& outbox) -> Status {
    return reportIn(tx, outbox, taskId, leaseToken, change, repeats, refused, repeated);
  });
  if (refused) return stale(taskId, leaseToken, what);
  if (done.ok() && repeated)
    return alreadyExists("task " + taskId + ": the same " + what + " for this lease was already accepted");
  return done;
}

Status TaskCore::started(const std::string& taskId, const std::string& leaseToken) {
  return report(taskId, leaseToken, "start",
                [&](store::Transaction& tx, Outbox& outbox, Task& t, std::uint64_t version, bool&) -> Status {
                  if (t.status != TaskStatus::kAssigned) return okStatus();  // a progress report came first
                  t.status = TaskStatus::kRunning;
                  t.startedAtMs = t.updatedAtMs = nowMs();
                  return outbox.save(tx, t, version, "task.running");
                });
}

Status TaskCore::progress(const std::string& taskId, const std::string& leaseToken,
                          const std::string& progressReport) {
  if (progressReport.size() > options_.limits.maxPayloadBytes)
    return invalidArgument("progress report too large");
  if (auto inexact = inexactNumber(progressReport, "/progress")) return invalidArgument(*inexact);
  return report(taskId, leaseToken, "progress",
                [&](store::Transaction& tx, Outbox& outbox, Task& t, std::uint64_t version, bool&) -> Status {
                  if (t.status == TaskStatus::kAssigned)
                    t.status = TaskStatus::kRunning, t.startedAtMs = nowMs();
                  t.progress = progressReport;
                  t.updatedAtMs = nowMs();
                  return outbox.save(tx, t, version, "task.progress");
                });
}

struct TaskCore::Ending {
  TaskStatus status = TaskStatus::kSucceeded;
  std::string result;
  std::string error;
  bool retry = false;
  bool backOff = false;
  std::string outcome;  // "succeeded", "failed: <error>": the same report sent again is told by it
};

TaskCore::Ending TaskCore::endingOf(const Report& r) {
  Ending e;
  switch (r.outcome) {
    case Outcome::kSucceeded: e.result = r.result; break;
    case Outcome::kFailed:
      e.status = TaskStatus::kFailed;
      e.error = r.error.empty() ? "failed" : r.error;
      e.retry = r.retry == tasks::Retry::kAllowed;
      e.backOff = true;
      break;
    case Outcome::kReleased:
      e.status = TaskStatus::kFailed;
      e.error = r.error.empty() ? "released" : r.error;
      e.retry = true;
      break;
  }
  e.outcome = e.status == TaskStatus::kSucceeded ? std::string("succeeded")
                                                 : std::string(statusName(e.status)) + ": " + e.error;
  return e;
}

Status TaskCore::checkEnding(const Ending& e) const {
  if (e.result.size() > options_.limits.maxPayloadBytes) return invalidArgument("result too large");
  if (auto inexact = inexactNumber(e.result, "/result")) return invalidArgument(*inexact);
  return okStatus();
}

TaskCore::LeasedChange TaskCore::changeFor(const std::string& leaseToken, const Ending& e) {
  return [this, &leaseToken, &e](store::Transaction& tx, Outbox& outbox, Task& t, std::uint64_t version,
                                 bool& refused) -> Status {
    std::int64_t now = nowMs();
    bool again = e.retry && t.attempts < t.maxAttempts;
    t.reportedLease = leaseToken;
    t.reportedOutcome = e.outcome;
    auto retryAfter = e.backOff ? backoff(t.attempts) : std::chrono::milliseconds(0);
    Status queued = again ? tx.fail(t.queue, t.id, leaseToken, retryAfter, e.error)
                          : tx.complete(t.queue, t.id, leaseToken);
    if (!queued.ok()) {
      refused = queued.code() == StatusCode::kFailedPrecondition || queued.code() == StatusCode::kNotFound;
      return queued;
    }
    t.leaseToken.clear();
    t.leaseExpiresMs = 0;
    t.updatedAtMs = now;
    t.error = e.error;
    if (again) {
      t.status = TaskStatus::kPending;
      t.agent.clear();
      t.queuedAtMs = now + retryAfter.count();
      return outbox.save(tx, t, version, "task.retrying");
    }
    t.status = e.retry ? TaskStatus::kDead : e.status;
    if (t.status == TaskStatus::kDead && !e.error.empty()) t.error = gaveUp(t.attempts, e.error);
    t.result = e.result;
    t.finishedAtMs = now;
    return outbox.save(tx, t, version, "task." + std::string(statusName(t.status)));
  };
}

// The same report again (its ack was lost): the same outcome, and for a
// success the same result, which the task still holds.
std::function<bool(const Task&)> TaskCore::repeatsFor(const Ending& e) {
  return [&e](const Task& t) {
    return t.reportedOutcome == e.outcome && (e.status != TaskStatus::kSucceeded || t.result == e.result);
  };
}

Status TaskCore::finishOne(const Report& r) {
  Ending e = endingOf(r);
  HIVE_TRY(checkEnding(e));
  return report(r.taskId, r.leaseToken, std::string(statusName(e.status)) + " report",
                changeFor(r.leaseToken, e), repeatsFor(e));
}

Status TaskCore::succeeded(const std::string& taskId, const std::string& leaseToken,
                           const std::string& result) {
  return finishOne({taskId, leaseToken, Outcome::kSucceeded, result, {}, tasks::Retry::kAllowed});
}

Status TaskCore::failed(const std::string& taskId, const std::string& leaseToken, const std::string& error,
                        tasks::Retry retry) {
  return finishOne({taskId, leaseToken, Outcome::kFailed, {}, error, retry});
}

Status TaskCore::released(const std::string& taskId, const std::string& leaseToken,
                          const std::string& reason) {
  return finishOne({taskId, leaseToken, Outcome::kReleased, {}, reason, tasks::Retry::kAllowed});
}

std::vector<Status> TaskCore::finish(const std::vector<Report>& reports) {
  std::vector<Status> out(reports.size());
  if (reports.size() == 1) {
    out[0] = finishOne(reports[0]);
    return out;
  }
  std::vector<Ending> endings;
  endings.reserve(reports.size());
  std::vector<std::size_t> valid;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    endings.push_back(endingOf(reports[i]));
    out[i] = checkEnding(endings[i]);
    if (out[i].ok()) valid.push_back(i);
  }
  // Together when every one is a plain end of its current lease; a stale or
  // repeated report, or a failure, and each goes alone (recorded, answered as
  // succeeded() and the others would).
  Status together = transact([&](store::Transaction& tx, Outbox& outbox) -> Status {
    for (std::size_t i : valid) {
      bool refused = false, repeated = false;
      HIVE_TRY(reportIn(tx, outbox, reports[i].taskId, reports[i].leaseToken,
                        changeFor(reports[i].leaseToken, endings[i]), repeatsFor(endings[i]), refused,
                        repeated));
      if (refused || repeated) return aborted("not a plain report");
    }
    return okStatus();
  });
  if (together.ok()) return out;
  for (std::size_t i : valid) out[i] = finishOne(reports[i]);
  return out;
}

// ---- counts and retention ----

Status TaskCore::countExisting(store::Store& store) {
  auto marker = HIVE_TRY(store.counters(kCountedMarker));
  if (marker.count(kCountedMarker) != 0) return okStatus();
  // A new store, or one written before the counters existed: counted by
  // listing, once. (Another node doing the same at the same moment would count
  // twice: start the first node of an upgraded cluster alone.)
  std::map<TaskStatus, std::int64_t> counts;
  for (int s = 0; s <= static_cast<int>(TaskStatus::kDead); ++s) {
    auto status = static_cast<TaskStatus>(s);
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

std::chrono::milliseconds TaskCore::retentionFor(const std::string& type) const {
  auto found = options_.retentionByType.find(type);
  return found == options_.retentionByType.end() ? options_.retention : found->second;
}

std::size_t TaskCore::remove(const std::vector<std::string>& ids, std::int64_t now) {
  auto store = store_.lease();
  if (!store) return 0;
  std::size_t removed = 0;
  Status done = transact([&](store::Transaction& tx, Outbox& outbox) -> Status {
    removed = 0;
    for (const auto& id : ids) {
      auto loaded = load(tx, id);
      if (!loaded.ok()) {
        if (loaded.status().code() == StatusCode::kNotFound) continue;  // another node was first
        return loaded.status();
      }
      const Task& t = loaded->task;
      if (!isTerminal(t.status) || t.finishedAtMs + retentionFor(t.type).count() > now) continue;
      HIVE_TRY(tx.remove(kTasks, id, loaded->version));
      --outbox.counts[t.status];
      auto gone = [](Status s) { return s.ok() || s.code() == StatusCode::kNotFound ? okStatus() : s; };
      // A later submission with its key makes a new task.
      if (!t.idempotencyKey.empty()) HIVE_TRY(gone(tx.remove(kIdempotency, t.idempotencyKey)));
      for (const auto& dependency : t.dependsOn)
        HIVE_TRY(gone(tx.remove(kDependencies, dependency + ":" + id)));
      ++removed;
    }
    return okStatus();
  });
  if (!done.ok()) {
    context_.log().warn("retention: deleting " + std::to_string(ids.size()) +
                        " tasks failed: " + done.message());
    return 0;
  }
  return removed;
}

std::size_t TaskCore::expire() {
  auto store = store_.lease();
  if (!store || !open_) return 0;
  std::int64_t now = nowMs();
  std::chrono::milliseconds shortest = options_.retention, longest = options_.retention;
  for (const auto& [type, retention] : options_.retentionByType) {
    shortest = std::min(shortest, retention);
    longest = std::max(longest, retention);
  }
  std::size_t removed = 0;
  for (TaskStatus status :
       {TaskStatus::kSucceeded, TaskStatus::kFailed, TaskStatus::kCancelled, TaskStatus::kDead}) {
    std::string cursor;
    bool done = false;
    while (!done && open_) {
      auto page = store->list(
          {kTasks, {{"status", std::string(statusName(status))}}, options_.retentionBatch, cursor});
      if (!page.ok()) break;
      std::vector<std::string> expired;
      for (const auto& d : page->items) {
        // Listed in id order, which is creation order: a task created within the
        // shortest retention finished within it too, and so did every later one.
        if (d.createdAtMs > now - shortest.count()) {
          done = true;
          break;
        }
        auto task = fromStoredJson(d.body);
        if (task.ok() && task->finishedAtMs + retentionFor(task->type).count() <= now)
          expired.push_back(d.id);
      }
      // Each batch its own transaction: writers wait for one batch at most.
      if (!expired.empty()) removed += remove(expired, now);
      cursor = page->nextCursor;
      if (cursor.empty()) done = true;
    }
  }
  // The event log: what is older than the longest retention.
  for (int round = 0; round < 100 && open_; ++round) {
    auto trimmed = store->trim(kEventLog, now - longest.count(), 10000);
    if (!trimmed.ok()) {
      context_.log().warn("retention: trimming the task event log failed: " + trimmed.status().message());
      break;
    }
    if (*trimmed < 10000) break;
  }
  if (removed > 0) context_.log().info("retention: deleted " + std::to_string(removed) + " finished tasks");
  return removed;
}

// ---- dependencies ----

void TaskCore::settleDependents(const std::string& taskId, bool succeeded) {
  std::vector<std::string> work{taskId};
  std::vector<bool> ok{succeeded};
  for (std::size_t i = 0; i < work.size() && i < 100000; ++i) {
    auto store = store_.lease();
    if (!store || !open_) return;
    std::string cursor;
    std::vector<std::string> dependents;
    do {
      auto page = store->list({kDependencies, {{"dep", work[i]}}, 1000, cursor});
      if (!page.ok()) return;
      for (const auto& edge : page->items) dependents.push_back(edge.body);
      cursor = page->nextCursor;
    } while (!cursor.empty());
    for (const auto& dependent : dependents) {
      if (ok[i]) {
        releaseIfReady(dependent);
      } else {
        std::vector<std::string> killed;
        kill(dependent, "blocked: dependency " + work[i] + " did not succeed", killed);
        for (auto& k : killed) work.push_back(k), ok.push_back(false);
      }
    }
  }
}

void TaskCore::releaseIfReady(const std::string& taskId) {
  std::string queue;
  std::vector<std::string> capabilities;
  std::vector<std::string> killed;
  std::string failedDependency;
  Status done = transact([&](store::Transaction& tx, Outbox& outbox) -> Status {
    queue.clear();
    failedDependency.clear();
    auto loaded = load(tx, taskId);
    if (!loaded.ok()) return loaded.status();
    Task t = loaded->task;
    if (t.status != TaskStatus::kPending || t.waitingOn.empty()) return okStatus();
    std::vector<std::string> still;
    for (const auto& dependency : t.waitingOn) {
      auto d = load(tx, dependency);
      if (!d.ok()) return d.status();
      if (d->task.status == TaskStatus::kSucceeded) continue;
      if (isTerminal(d->task.status)) failedDependency = dependency;
      still.push_back(dependency);
    }
    if (!failedDependency.empty()) return okStatus();
    if (still.size() == t.waitingOn.size()) return okStatus();
    t.waitingOn = still;
    t.updatedAtMs = nowMs();
    if (still.empty()) {
      auto queued = tx.enqueue({t.queue, t.id, t.effectivePriority, t.notBeforeMs, {}, t.id});
      if (!queued.ok()) return queued.status();
      t.queuedAtMs = t.updatedAtMs;
      queue = t.queue;
      capabilities = t.capabilities;
    }
    return outbox.save(tx, t, loaded->version, still.empty() ? "task.ready" : "task.waiting");
  });
  if (!done.ok()) context_.log().warn("task " + taskId + ": dependencies not settled: " + done.message());
  if (!failedDependency.empty()) {
    kill(taskId, "blocked: dependency " + failedDependency + " did not succeed", killed);
    for (const auto& k : killed) settleDependents(k, false);
  }
  if (!queue.empty()) {
    remember(queue, capabilities);
    notifyWork();
  }
}

void TaskCore::kill(const std::string& taskId, const std::string& reason, std::vector<std::string>& next) {
  auto store = store_.lease();
  if (!store) return;
  Outbox outbox;
  Status done = store->transact([&](store::Transaction& tx) -> Status {
    outbox = Outbox{};
    auto loaded = load(tx, taskId);
    if (!loaded.ok()) return loaded.status();
    Task t = loaded->task;
    if (isTerminal(t.status)) return okStatus();
    if (Status removed = tx.cancel(t.queue, t.id); !removed.ok() && removed.code() != StatusCode::kNotFound)
      return removed;
    t.status = TaskStatus::kDead;
    t.error = reason;
    t.leaseToken.clear();
    t.waitingOn.clear();
    t.finishedAtMs = t.updatedAtMs = nowMs();
    return outbox.save(tx, t, loaded->version, "task.dead");
  });
  if (!done.ok()) {
    context_.log().warn("task " + taskId + ": not marked dead: " + done.message());
    return;
  }
  publish(outbox);
  for (const auto& id : outbox.settled) next.push_back(id);
}

// ---- the sweep ----

void TaskCore::sweep() {
  if (!open_ || sweeping_.exchange(true)) return;
  struct Clear {
    std::atomic<bool>& flag;
    ~Clear() { flag = false; }
  } clear{sweeping_};
  auto store = store_.lease();
  if (!store) return;
  // Leases that expired: the attempt timed out.
  for (const auto& [queue, capabilities] : knownQueues()) {
    auto expired = store->releaseExpired(queue);
    if (!expired.ok()) {
      context_.log().warn("sweep of " + queue + ": " + expired.status().message());
      continue;
    }
    for (const auto& item : *expired) {
      (void)transact([&](store::Transaction& tx, Outbox& outbox) -> Status {
        auto loaded = load(tx, item.id);
        if (!loaded.ok()) return loaded.status();
        Task t = loaded->task;
        if (t.leaseToken != item.leaseToken || isTerminal(t.status)) return okStatus();
        std::int64_t now = nowMs();
        t.error = timedOut(t);
        t.leaseToken.clear();
        t.updatedAtMs = now;
        if (t.attempts >= t.maxAttempts) {
          HIVE_TRY(tx.cancel(queue, t.id));
          t.status = TaskStatus::kDead;
          t.error = gaveUp(t.attempts, t.error);
          t.finishedAtMs = now;
          return outbox.save(tx, t, loaded->version, "task.dead");
        }
        t.status = TaskStatus::kPending;
        t.agent.clear();
        t.queuedAtMs = now;
        return outbox.save(tx, t, loaded->version, "task.timed_out");
      });
    }
    if (!expired->empty()) notifyWork();
  }
  auto now = std::chrono::steady_clock::now();
  // Waiting tasks whose dependencies settled while nobody looked (a crash
  // between a dependency's commit and the release of its dependents).
  if (now - lastWaitingCheck_ >= std::chrono::seconds(5)) {
    lastWaitingCheck_ = now;
    std::string cursor;
    do {
      auto page = store->list({kTasks, {{"status", "pending"}, {"waiting", "1"}}, kTaskPage, cursor});
      if (!page.ok()) break;
      for (const auto& d : page->items) releaseIfReady(d.id);
      cursor = page->nextCursor;
    } while (!cursor.empty());
  }
  // Aging: a task waiting long gains priority, so low priorities cannot starve.
  if (options_.aging.count() > 0 && now - lastAging_ >= options_.aging / 4) {
    lastAging_ = now;
    std::int64_t wall = nowMs();
    std::string cursor;
    do {
      auto page = store->list({kTasks, {{"status", "pending"}, {"waiting", "0"}}, kTaskPage, cursor});
      if (!page.ok()) break;
      for (const auto& d : page->items) {
        auto task = fromStoredJson(d.body);
        if (!task.ok() || task->effectivePriority >= 10 || task->queuedAtMs == 0) continue;
        std::int64_t due =
            task->queuedAtMs + options_.aging.count() * (task->effectivePriority - task->priority + 1);
        if (wall < due) continue;
        (void)transact([&](store::Transaction& tx, Outbox& outbox) -> Status {
          auto loaded = load(tx, d.id);
          if (!loaded.ok()) return loaded.status();
          Task t = loaded->task;
          if (t.status != TaskStatus::kPending || !t.waitingOn.empty()) return okStatus();
          HIVE_TRY(tx.cancel(t.queue, t.id));
          ++t.effectivePriority;
          auto queued = tx.enqueue({t.queue, t.id, t.effectivePriority, t.notBeforeMs, {}, t.id});
          if (!queued.ok()) return queued.status();
          t.updatedAtMs = wall;
          return outbox.save(tx, t, loaded->version, "task.aged");
        });
      }
      cursor = page->nextCursor;
    } while (!cursor.empty());
  }
  if (now - lastExpiry_ >= options_.retentionPeriod) {
    lastExpiry_ = now;
    expire();
  }
}

}  // namespace hive::task_manager
