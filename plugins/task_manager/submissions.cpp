#include "submissions.hpp"

#include <algorithm>

#include "records.hpp"

namespace hive::task_manager {

// A group this large is one transaction of a few MB at most (payloads are
// limited); more waiting submissions go into the next group.
constexpr std::size_t kSubmitGroup = 256;
constexpr int kSubmitDrains = 4;

Result<Replay> Submissions::checkKey(store::Transaction& tx, Submission& s) {
  if (s.idempotencyKey.empty()) return Replay::kNo;
  auto seen = tx.get(kIdempotency, s.idempotencyKey);
  if (!seen.ok()) {
    if (seen.status().code() != StatusCode::kNotFound) return seen.status();
    return Replay::kNo;
  }
  if (seen->body.rfind(s.bodyDigest + " ", 0) != 0) {
    s.errors.push_back({"Idempotency-Key", "was already used with another request body"});
    return invalidArgument("Idempotency-Key reused with another body");
  }
  auto earlier = HIVE_TRY(load(tx, seen->body.substr(s.bodyDigest.size() + 1)));
  s.out.task = std::move(earlier.task);
  s.out.replay = Replay::kYes;
  return Replay::kYes;
}

Result<std::string> Submissions::checkDependencies(store::Transaction& tx, Task& t, Submission& s) {
  std::string failedDependency;
  s.pending.clear();
  for (std::size_t i = 0; i < t.dependsOn.size(); ++i) {
    auto dependency = load(tx, t.dependsOn[i]);
    if (!dependency.ok()) {
      if (dependency.status().code() != StatusCode::kNotFound) return dependency.status();
      s.errors.push_back({"/depends_on/" + std::to_string(i), "no task " + t.dependsOn[i]});
      continue;
    }
    TaskStatus status = dependency->task.status;
    if (status == TaskStatus::kSucceeded) continue;
    if (isTerminal(status))
      failedDependency = t.dependsOn[i] + " is " + std::string(statusName(status));
    else
      s.pending.push_back(t.dependsOn[i]);
    t.waitingOn.push_back(t.dependsOn[i]);
  }
  if (!s.errors.empty()) return invalidArgument("the task is not valid");
  return failedDependency;
}

namespace {
store::Document document(std::string id, std::string body, std::map<std::string, std::string> index = {}) {
  store::Document d;
  d.id = std::move(id);
  d.body = std::move(body);
  d.index = std::move(index);
  return d;
}
}  // namespace

Status Submissions::writeEdges(store::Transaction& tx, const Task& t, const Submission& s) {
  for (const auto& dependency : t.dependsOn) {
    bool counted = std::find(s.pending.begin(), s.pending.end(), dependency) != s.pending.end();
    HIVE_TRY(tx.put(kDependencies, edgeDocument(dependency, t.id, counted), store::kAnyVersion));
  }
  if (!s.pending.empty())
    HIVE_TRY(tx.addToCounter(kPendingEdges, static_cast<std::int64_t>(s.pending.size())));
  if (!s.idempotencyKey.empty())
    HIVE_TRY(
        tx.put(kIdempotency, document(s.idempotencyKey, s.bodyDigest + " " + t.id), store::kMustNotExist));
  // A queue this node knows is in the store already (it learnt it from there,
  // or after the commit that wrote it): rewriting it on every submission only
  // cost a write.
  if (!queues_.known(t.queue))
    HIVE_TRY(tx.put(kQueues, document(t.queue, capabilityKey(queueCapabilities(t))), store::kAnyVersion));
  return okStatus();
}

Status Submissions::stage(store::Transaction& tx, Outbox& outbox, Submission& s) {
  s.out = Submitted{};
  s.errors.clear();
  if (HIVE_TRY(checkKey(tx, s)) == Replay::kYes) return okStatus();
  Task t = s.task;
  std::int64_t now = clock_.nowMs();
  t.createdAtMs = t.updatedAtMs = now;
  std::string failedDependency = HIVE_TRY(checkDependencies(tx, t, s));
  HIVE_TRY(writeEdges(tx, t, s));
  if (!failedDependency.empty()) {
    t.status = TaskStatus::kDead;
    t.error = "blocked: dependency " + failedDependency;
    t.finishedAtMs = now;
    t.waitingOn.clear();
  } else if (t.waitingOn.empty()) {
    HIVE_TRY(tx.enqueue({t.queue, t.id, t.priority, t.notBeforeMs, {}, t.id}));
    t.queuedAtMs = now;
  }
  HIVE_TRY(
      outbox.save(tx, t, store::kMustNotExist, t.status == TaskStatus::kDead ? "task.dead" : "task.created"));
  s.out.task = std::move(t);
  return okStatus();
}

void Submissions::submit(Task task, std::string idempotencyKey, std::string bodyDigest, Done done) {
  task.id = newTaskId();
  task.idempotencyKey = idempotencyKey;
  task.queue = queueFor(queueCapabilities(task));
  {
    std::lock_guard lock(mutex_);
    waiting_.push_back(
        {std::move(task), std::move(idempotencyKey), std::move(bodyDigest), std::move(done), {}, {}, {}});
    // A running drain takes it. When submissions pile up behind it (a store
    // whose statements are network round trips: PostgreSQL), another one starts,
    // up to kSubmitDrains, so that several groups are in flight; on SQLite
    // one drain keeps up and its groups stay large.
    bool more = drains_ < kSubmitDrains && waiting_.size() >= kSubmitGroup / 8;
    if (drains_ > 0 && !more) return;
    ++drains_;
  }
  context_.blocking().post([this] { drain(); });
}

void Submissions::commitGroup(std::vector<Submission>& group) {
  auto stageAll = [&](store::Transaction& tx, Outbox& outbox) {
    for (auto& s : group) HIVE_TRY(stage(tx, outbox, s));
    return okStatus();
  };
  Status together = group.size() == 1 ? internalError("alone") : commit(work_, dependencies_, stageAll);
  bool woke = false;
  for (auto& s : group) {
    Status status = together;
    if (!together.ok())
      status = commit(work_, dependencies_,
                      [&](store::Transaction& tx, Outbox& outbox) { return stage(tx, outbox, s); });
    if (status.ok() && s.out.replay == Replay::kNo) {
      queues_.remember(s.task.queue, queueCapabilities(s.task));
      woke = woke || (s.out.task.waitingOn.empty() && !isTerminal(s.out.task.status));
    }
    s.status = std::move(status);
  }
  if (woke) wake_();
}

void Submissions::drain() {
  for (;;) {
    std::vector<Submission> group;
    {
      std::lock_guard lock(mutex_);
      if (waiting_.empty()) {
        --drains_;
        return;
      }
      auto end = waiting_.begin() + static_cast<std::ptrdiff_t>(std::min(waiting_.size(), kSubmitGroup));
      group.assign(std::make_move_iterator(waiting_.begin()), std::make_move_iterator(end));
      waiting_.erase(waiting_.begin(), end);
    }
    commitGroup(group);
    for (auto& s : group) {
      if (s.status.ok())
        s.done(std::move(s.out), {});
      else
        s.done(std::move(s.status), std::move(s.errors));
    }
  }
}

}  // namespace hive::task_manager
