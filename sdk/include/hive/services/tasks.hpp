// hive.tasks/1 — the task queue as the orchestrator sees it. Provided by
// task_manager, which owns tasks (REST, storage, retries, dependencies,
// events); the orchestrator owns agents and asks it for work.
//
// Exactly-once state changes: an assignment carries a lease token, and every
// report about the task must carry the current one. A stale token (the lease
// expired and the task went to someone else) is refused with
// kFailedPrecondition and recorded; nothing changes.
//
// Calls block on storage: call them from the blocking executor.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hive/services.hpp"
#include "hive/status.hpp"

namespace hive::tasks {

struct Assignment {
  std::string taskId;
  std::string leaseToken;
  std::string type;
  std::string title;
  std::string payload;  // JSON
  std::vector<std::string> capabilities;
  int priority = 5;
  std::uint32_t attempt = 1;  // this one included
  std::chrono::milliseconds timeout{0};
  std::int64_t leaseExpiresMs = 0;
  // The whole task as the API shows it (JSON), to hand to an agent as is.
  std::string taskJson;
};

struct QueueDepth {
  std::string capabilities;  // the required set, comma-separated ("" = none)
  std::map<int, std::uint64_t> byPriority;
};

// Whether a failed attempt may be tried again (TaskService::failed). An enum,
// not a bool, so that a call site says what it means (SDK ABI 2.0).
enum class Retry { kAllowed, kNever };

class TaskService : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.tasks", 1};

  // Leases up to `max` runnable tasks whose required capabilities are all in
  // `capabilities`, highest (aged) priority first, to `agent`. Empty when none.
  virtual Result<std::vector<Assignment>> claim(const std::string& agent,
                                                const std::vector<std::string>& capabilities,
                                                std::size_t max) = 0;
  // The agent started it (assigned → running).
  virtual Status started(const std::string& taskId, const std::string& leaseToken) = 0;
  // Progress (JSON), stored and published to the task's topic. It does not
  // extend the lease: the task's timeout bounds the whole attempt.
  virtual Status progress(const std::string& taskId, const std::string& leaseToken,
                          const std::string& progress) = 0;
  // The attempt's outcome. kAlreadyExists: the same report for the lease that
  // already finished the task (a retransmission), acknowledged and changing
  // nothing. kInvalidArgument: the result (or progress) is too large, or holds a
  // number that would not read back as written (`1e400`, a 100-digit integer);
  // the message names its place, and nothing changes.
  virtual Status succeeded(const std::string& taskId, const std::string& leaseToken,
                           const std::string& result) = 0;
  // A failed attempt: with Retry::kAllowed retried with backoff while attempts
  // remain, `dead` after the last one; with Retry::kNever `failed` at once (the
  // agent knows another attempt cannot succeed, e.g. bad input).
  virtual Status failed(const std::string& taskId, const std::string& leaseToken, const std::string& error,
                        Retry retry = Retry::kAllowed) = 0;
  // The agent cannot finish it (went offline, drained): back to the queue now.
  virtual Status released(const std::string& taskId, const std::string& leaseToken,
                          const std::string& reason) = 0;
  // `callback` runs (on some provider thread) when a task may have become
  // claimable, on this node or another. A hint: claim() decides.
  [[nodiscard]] virtual std::unique_ptr<Subscription> onWork(std::function<void()> callback) = 0;
  // Waiting tasks by required capability set and priority.
  virtual Result<std::vector<QueueDepth>> depth() = 0;

  // Several ends of attempts at once (an agent that finished a burst): the
  // reports go into one store transaction when they can, so that they share
  // one commit. Each gets the status succeeded(), failed() or released() would
  // have returned for it, in order. (SDK ABI 2.0)
  enum class Outcome { kSucceeded, kFailed, kReleased };
  struct Report {
    std::string taskId;
    std::string leaseToken;
    Outcome outcome = Outcome::kSucceeded;
    std::string result;             // JSON, for kSucceeded
    std::string error;              // for kFailed and kReleased
    Retry retry = Retry::kAllowed;  // for kFailed
  };
  virtual std::vector<Status> finish(const std::vector<Report>& reports) = 0;
};

}  // namespace hive::tasks
