#include "leases.hpp"

#include <algorithm>
#include <random>

#include "json.hpp"
#include "records.hpp"

namespace hive::task_manager {

// ---- claims ----

Status Leases::assign(store::Transaction& tx, Outbox& outbox, const std::string& queue,
                      const store::QueueItem& item, const std::string& agent, tasks::Assignment& assignment) {
  auto loaded = outbox.loadLeased(tx, item.id);
  if (!loaded.ok()) {
    // A queue item without its task: drop it.
    if (loaded.status().code() == StatusCode::kNotFound) return tx.complete(queue, item.id, item.leaseToken);
    return loaded.status();
  }
  Task t = loaded->task;
  if (isTerminal(t.status)) return tx.complete(queue, item.id, item.leaseToken);
  std::int64_t now = clock_.nowMs();
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
  // Until the agent accepts, the claim lease: an assignment that never reached
  // it (hive killed right after the claim, say) goes back to the queue then,
  // not after the task's whole timeout. The accept extends it to the timeout.
  t.leaseExpiresMs = now + std::min<std::int64_t>(options_.claimLease.count(), t.timeoutMs);
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

// A task whose whole timeout is shorter than the claim lease is leased for its
// timeout only: no attempt outlives it, accepted or not.
template <typename Target>
Status Leases::shortenClaim(Target& target, const std::string& queue, const store::QueueItem& item,
                            const tasks::Assignment& assignment) {
  if (assignment.timeout >= options_.claimLease) return okStatus();
  auto extended = target.extend(queue, item.id, item.leaseToken, assignment.timeout);
  return extended.ok() ? okStatus() : extended.status();
}

Result<std::vector<tasks::Assignment>> Leases::claimOneByOne(store::Store& store, const std::string& queue,
                                                             const std::string& agent, std::size_t max) {
  std::vector<tasks::Assignment> out;
  auto items = HIVE_TRY(store.claim({queue, agent, options_.claimLease, max, 1}));
  for (const auto& item : items) {
    tasks::Assignment assignment;
    Status done = commit(work_, dependencies_, [&](store::Transaction& tx, Outbox& outbox) {
      assignment = {};
      return assign(tx, outbox, queue, item, agent, assignment);
    });
    if (!done.ok()) {
      log_.warn("claim of task " + item.id + " by " + agent + " not recorded: " + done.message());
      continue;  // its lease expires and the sweep puts it back
    }
    if (assignment.taskId.empty()) continue;
    if (Status shortened = shortenClaim(store, queue, item, assignment); !shortened.ok()) {
      log_.warn("task " + item.id + ": lease not shortened to its timeout: " + shortened.message());
      continue;
    }
    out.push_back(std::move(assignment));
  }
  return out;
}

Result<std::vector<tasks::Assignment>> Leases::claimFrom(store::Store& store, const std::string& queue,
                                                         const std::string& agent, std::size_t max) {
  // Claim and assignment in one transaction; the lease is the claim lease until the accept.
  std::vector<tasks::Assignment> batch;
  Status together = commit(work_, dependencies_, [&](store::Transaction& tx, Outbox& outbox) -> Status {
    batch.clear();
    auto items = HIVE_TRY(tx.claim({queue, agent, options_.claimLease, max, 1}));
    for (const auto& item : items) {
      tasks::Assignment assignment;
      HIVE_TRY(assign(tx, outbox, queue, item, agent, assignment));
      if (assignment.taskId.empty()) continue;
      HIVE_TRY(shortenClaim(tx, queue, item, assignment));
      batch.push_back(std::move(assignment));
    }
    return okStatus();
  });
  if (together.ok()) return batch;
  // One of them cannot be recorded (a task changed meanwhile, or unreadable):
  // item by item, so that only that one waits for its claim lease to expire.
  log_.debug("claim by " + agent + " in one transaction failed (" + together.message() + "); one by one");
  return claimOneByOne(store, queue, agent, max);
}

Result<std::vector<tasks::Assignment>> Leases::claim(const std::string& agent,
                                                     const std::vector<std::string>& capabilities,
                                                     std::size_t max) {
  auto store = HIVE_TRY(work_.store());
  auto queues = queues_.all();
  std::vector<std::string> covered;
  for (const auto& [queue, required] : queues)
    if (serves(capabilities, required)) covered.push_back(queue);
  // The queues this agent can serve, best waiting priority first. With one
  // there is nothing to rank, and its claim says whether anything waits: a
  // depth() counts every waiting item, which in a backlog cost more than the
  // claim (bench/tasks on PostgreSQL).
  std::vector<std::pair<int, std::string>> ranked;
  if (covered.size() == 1) {
    ranked.emplace_back(0, covered.front());
  } else {
    for (const auto& queue : covered) {
      auto depth = store->depth(queue);
      if (!depth.ok()) continue;
      int best = 0;
      for (const auto& [priority, count] : *depth)
        if (count > 0) best = std::max(best, priority);
      if (best > 0) ranked.emplace_back(best, queue);
    }
  }
  std::sort(ranked.begin(), ranked.end(), std::greater<>());
  // With concurrency limits, the counts are read and the claims made under one
  // lock: this node's claims do not race each other past a limit.
  std::unique_lock<std::mutex> limited;
  std::optional<Headroom> headroom;
  if (options_.concurrency.any() && !ranked.empty()) {
    limited = std::unique_lock(limitedMutex_);
    auto counters = store->counters(kBusyCounters);
    if (!counters.ok())  // then only the queues under no limit are claimed from
      log_.warn("concurrency limits: the counts could not be read (" + counters.status().message() +
                "); tasks under a limit wait");
    headroom.emplace(options_.concurrency, queues,
                     counters.ok() ? std::optional(std::move(counters).value()) : std::nullopt);
  }
  std::vector<tasks::Assignment> out;
  for (const auto& [best, queue] : ranked) {
    if (out.size() >= max) break;
    std::size_t room = max - out.size();
    if (headroom) room = std::min(room, headroom->room(queues[queue]));
    if (room == 0) continue;
    auto batch = HIVE_TRY(claimFrom(*store, queue, agent, room));
    if (headroom) headroom->took(queues[queue], batch.size());
    for (auto& assignment : batch) out.push_back(std::move(assignment));
  }
  if (out.empty()) queues_.refresh(Refresh::kIfStale);
  return out;
}

// ---- reports ----

Status Leases::stale(const std::string& taskId, const std::string& what) {
  (void)work_.run([&](store::Transaction& tx, Outbox&) -> Status {
    auto loaded = HIVE_TRY(load(tx, taskId));
    ++loaded.task.staleReports;
    HIVE_TRY(tx.put(kTasks, toDocument(loaded.task), loaded.version));
    HIVE_TRY(tx.append(kEventLog, "task.stale_report", staleReportJson(loaded.task, what)));
    return okStatus();
  });
  work_.forget(taskId);
  log_.warn("task " + taskId + ": " + what + " with a stale lease refused");
  return failedPrecondition("stale lease: task " + taskId +
                            " is no longer leased with this token (it expired or went to another agent)");
}

Result<Leases::Verdict> Leases::reportIn(store::Transaction& tx, Outbox& outbox, const std::string& taskId,
                                         const std::string& leaseToken, const LeasedChange& change,
                                         const Repeats& repeats) {
  auto loaded = HIVE_TRY(outbox.loadLeased(tx, taskId));
  Task& t = loaded.task;
  if (leaseToken.empty() || t.leaseToken != leaseToken || isTerminal(t.status)) {
    if (!leaseToken.empty() && t.reportedLease == leaseToken && repeats && repeats(t))
      return Verdict::kRepeated;
    return Verdict::kStale;
  }
  return change(tx, outbox, t, loaded.version);
}

Status Leases::report(const std::string& taskId, const std::string& leaseToken, const std::string& what,
                      const LeasedChange& change, const Repeats& repeats) {
  Verdict verdict = Verdict::kApplied;
  Status done = commit(work_, dependencies_, [&](store::Transaction& tx, Outbox& outbox) -> Status {
    verdict = HIVE_TRY(reportIn(tx, outbox, taskId, leaseToken, change, repeats));
    return verdict == Verdict::kApplied ? okStatus() : aborted("nothing to write");
  });
  if (verdict == Verdict::kStale) return stale(taskId, what);
  if (verdict == Verdict::kRepeated)
    return alreadyExists("task " + taskId + ": the same " + what + " for this lease was already accepted");
  return done;
}

// The agent has the task: the lease now covers the whole attempt, and the
// task's timeout is enforced by its expiry.
Status Leases::startAttempt(store::Transaction& tx, Task& t, const std::string& leaseToken) {
  std::int64_t now = clock_.nowMs();
  HIVE_TRY(tx.extend(t.queue, t.id, leaseToken, std::chrono::milliseconds(t.timeoutMs)));
  t.status = TaskStatus::kRunning;
  t.startedAtMs = t.updatedAtMs = now;
  t.leaseExpiresMs = now + t.timeoutMs;
  return okStatus();
}

Status Leases::started(const std::string& taskId, const std::string& leaseToken) {
  return report(
      taskId, leaseToken, "start",
      [&](store::Transaction& tx, Outbox& outbox, Task& t, std::uint64_t version) -> Result<Verdict> {
        if (t.status != TaskStatus::kAssigned) return Verdict::kApplied;  // a progress report came first
        HIVE_TRY(startAttempt(tx, t, leaseToken));
        HIVE_TRY(outbox.save(tx, t, version, "task.running"));
        return Verdict::kApplied;
      });
}

Status Leases::progress(const std::string& taskId, const std::string& leaseToken,
                        const std::string& progressReport) {
  if (progressReport.size() > options_.limits.maxPayloadBytes)
    return invalidArgument("progress report too large");
  if (auto inexact = inexactNumber(progressReport, "/progress")) return invalidArgument(*inexact);
  return report(
      taskId, leaseToken, "progress",
      [&](store::Transaction& tx, Outbox& outbox, Task& t, std::uint64_t version) -> Result<Verdict> {
        if (t.status == TaskStatus::kAssigned) HIVE_TRY(startAttempt(tx, t, leaseToken));
        t.progress = progressReport;
        t.updatedAtMs = clock_.nowMs();
        HIVE_TRY(outbox.save(tx, t, version, "task.progress"));
        return Verdict::kApplied;
      });
}

// ---- the end of an attempt ----

// What comes after an attempt that ended.
enum class AfterEnd { kFinish, kRetry, kRetryAfterBackoff };

struct Leases::Ending {
  TaskStatus status = TaskStatus::kSucceeded;
  std::string result;
  std::string error;
  AfterEnd after = AfterEnd::kFinish;
  std::string outcome;  // "succeeded", "failed: <error>": the same report sent again is told by it
};

Leases::Ending Leases::endingOf(const Report& r) {
  Ending e;
  switch (r.outcome) {
    case Outcome::kSucceeded: e.result = r.result; break;
    case Outcome::kFailed:
      e.status = TaskStatus::kFailed;
      e.error = r.error.empty() ? "failed" : r.error;
      e.after = r.retry == tasks::Retry::kAllowed ? AfterEnd::kRetryAfterBackoff : AfterEnd::kFinish;
      break;
    case Outcome::kReleased:
      e.status = TaskStatus::kFailed;
      e.error = r.error.empty() ? "released" : r.error;
      e.after = AfterEnd::kRetry;
      break;
  }
  e.outcome = e.status == TaskStatus::kSucceeded ? std::string("succeeded")
                                                 : std::string(statusName(e.status)) + ": " + e.error;
  return e;
}

Status Leases::checkEnding(const Ending& e) const {
  if (e.result.size() > options_.limits.maxPayloadBytes) return invalidArgument("result too large");
  if (auto inexact = inexactNumber(e.result, "/result")) return invalidArgument(*inexact);
  return okStatus();
}

std::chrono::milliseconds Leases::backoff(std::uint32_t attempts) const {
  thread_local std::mt19937_64 random{std::random_device{}()};
  double delay = static_cast<double>(options_.retryBase.count());
  for (std::uint32_t i = 1; i < attempts && delay < options_.retryMax.count(); ++i) delay *= 2;
  delay = std::min(delay, static_cast<double>(options_.retryMax.count()));
  // Full jitter over the upper half: retries of many tasks spread out.
  double factor = 0.5 + std::uniform_real_distribution<double>(0.0, 0.5)(random);
  return std::chrono::milliseconds(static_cast<std::int64_t>(delay * factor));
}

Leases::LeasedChange Leases::changeFor(const std::string& leaseToken, const Ending& e) {
  return [this, &leaseToken, &e](store::Transaction& tx, Outbox& outbox, Task& t,
                                 std::uint64_t version) -> Result<Verdict> {
    std::int64_t now = clock_.nowMs();
    bool retries = e.after != AfterEnd::kFinish;
    bool again = retries && t.attempts < t.maxAttempts;
    t.reportedLease = leaseToken;
    t.reportedOutcome = e.outcome;
    auto retryAfter =
        e.after == AfterEnd::kRetryAfterBackoff ? backoff(t.attempts) : std::chrono::milliseconds(0);
    Status queued = again ? tx.fail(t.queue, t.id, leaseToken, retryAfter, e.error)
                          : tx.complete(t.queue, t.id, leaseToken);
    if (queued.code() == StatusCode::kFailedPrecondition || queued.code() == StatusCode::kNotFound)
      return Verdict::kStale;  // the store no longer knows the lease
    HIVE_TRY(queued);
    t.leaseToken.clear();
    t.leaseExpiresMs = 0;
    t.updatedAtMs = now;
    t.error = e.error;
    if (again) {
      t.status = TaskStatus::kPending;
      t.agent.clear();
      t.queuedAtMs = now + retryAfter.count();
      HIVE_TRY(outbox.save(tx, t, version, "task.retrying"));
      return Verdict::kApplied;
    }
    t.status = retries ? TaskStatus::kDead : e.status;
    if (t.status == TaskStatus::kDead && !e.error.empty()) t.error = gaveUp(t.attempts, e.error);
    t.result = e.result;
    t.finishedAtMs = now;
    HIVE_TRY(outbox.save(tx, t, version, "task." + std::string(statusName(t.status))));
    return Verdict::kApplied;
  };
}

// The same report again (its ack was lost): the same outcome, and for a
// success the same result, which the task still holds.
Leases::Repeats Leases::repeatsFor(const Ending& e) {
  return [&e](const Task& t) {
    return t.reportedOutcome == e.outcome && (e.status != TaskStatus::kSucceeded || t.result == e.result);
  };
}

Status Leases::finish(const Report& r) {
  Ending e = endingOf(r);
  HIVE_TRY(checkEnding(e));
  return report(r.taskId, r.leaseToken, std::string(statusName(e.status)) + " report",
                changeFor(r.leaseToken, e), repeatsFor(e));
}

struct Leases::Waiting {
  const std::vector<Report>* reports = nullptr;
  std::vector<Status> out;
  std::vector<Ending> endings;
  std::vector<std::size_t> valid;  // checked: they may be written
  bool done = false;               // its group was written, or could not be
  bool together = false;           // its group was written together
};

std::vector<Status> Leases::finish(const std::vector<Report>& reports) {
  Waiting me;
  me.reports = &reports;
  me.out.resize(reports.size());
  me.endings.reserve(reports.size());
  for (std::size_t i = 0; i < reports.size(); ++i) {
    me.endings.push_back(endingOf(reports[i]));
    me.out[i] = checkEnding(me.endings[i]);
    if (me.out[i].ok()) me.valid.push_back(i);
  }
  if (me.valid.empty()) return me.out;
  std::unique_lock lock(groupMutex_);
  waiting_.push_back(&me);
  while (!me.done) {
    if (leading_) {
      groupDone_.wait(lock);
      continue;
    }
    // The leader writes what waits (its own reports among them, or in a
    // later group when the first is full); the others wait for its answer.
    leading_ = true;
    std::vector<Waiting*> group;
    std::size_t count = 0;
    while (!waiting_.empty() &&
           (group.empty() || count + waiting_.front()->valid.size() <= kMaxGroupReports)) {
      count += waiting_.front()->valid.size();
      group.push_back(waiting_.front());
      waiting_.pop_front();
    }
    lock.unlock();
    bool together = false;
    try {
      together = commitGroup(group);
    } catch (...) {
      // Never leave the others waiting on a leader that is gone: each then
      // tries its own reports (and meets the same error on its own).
      together = false;
    }
    lock.lock();
    for (Waiting* member : group) {
      member->together = together;
      member->done = true;
    }
    leading_ = false;
    groupDone_.notify_all();
  }
  lock.unlock();
  if (!me.together) finishAlone(me);
  return me.out;
}

bool Leases::commitGroup(const std::vector<Waiting*>& group) {
  Status together = commit(work_, dependencies_, [&](store::Transaction& tx, Outbox& outbox) -> Status {
    for (Waiting* member : group) {
      for (std::size_t i : member->valid) {
        const Report& r = (*member->reports)[i];
        auto verdict =
            HIVE_TRY(reportIn(tx, outbox, r.taskId, r.leaseToken, changeFor(r.leaseToken, member->endings[i]),
                              repeatsFor(member->endings[i])));
        if (verdict != Verdict::kApplied) return aborted("not a plain report");
      }
    }
    return okStatus();
  });
  return together.ok();
}

void Leases::finishAlone(Waiting& me) {
  const std::vector<Report>& reports = *me.reports;
  // Its own reports together first (the group failed because of another
  // member, or of one of these), then each alone, recorded and answered as
  // finish(Report) would.
  if (me.valid.size() > 1) {
    std::vector<Waiting*> alone{&me};
    if (commitGroup(alone)) return;
  }
  for (std::size_t i : me.valid) me.out[i] = finish(reports[i]);
}

}  // namespace hive::task_manager
