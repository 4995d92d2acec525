// A task as task_manager stores it and as the API shows it, with the
// validation of what a client submits.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hive/services/http.hpp"
#include "hive/services/tasks.hpp"
#include "hive/status.hpp"
#include "plugin_common/clock_ids.hpp"

namespace hive::task_manager {

enum class TaskStatus { kPending, kAssigned, kRunning, kSucceeded, kFailed, kCancelled, kDead };
inline constexpr TaskStatus kAllStatuses[] = {
    TaskStatus::kPending, TaskStatus::kAssigned,  TaskStatus::kRunning, TaskStatus::kSucceeded,
    TaskStatus::kFailed,  TaskStatus::kCancelled, TaskStatus::kDead};

std::string_view statusName(TaskStatus status);
std::optional<TaskStatus> parseStatus(std::string_view name);
bool isTerminal(TaskStatus status);

struct Limits {
  std::size_t maxPayloadBytes = 256 * 1024;
  std::size_t maxCapabilities = 16;
  std::size_t maxDependencies = 64;
  std::uint32_t maxAttempts = 20;
  std::chrono::milliseconds maxTimeout{std::chrono::hours(24 * 7)};  // ceiling of timeout_seconds
};

struct Task {
  std::string id;
  std::string type;
  std::string title;
  std::string payload = "{}";             // JSON text
  std::vector<std::string> capabilities;  // sorted, unique
  int priority = 5;                       // 1..10
  int effectivePriority = 5;              // priority plus aging
  std::vector<std::string> dependsOn;
  std::vector<std::string> waitingOn;  // dependencies not yet succeeded
  std::int64_t timeoutMs = 300'000;
  std::uint32_t maxAttempts = 3;
  std::int64_t notBeforeMs = 0;
  TaskStatus status = TaskStatus::kPending;
  std::uint32_t attempts = 0;
  std::string result;    // JSON text; empty when none
  std::string progress;  // JSON text of the last progress report
  std::string error;
  std::string agent;
  std::string leaseToken;  // never shown by the API
  std::int64_t leaseExpiresMs = 0;
  std::string queue;  // the store queue it waits in
  std::uint32_t staleReports = 0;
  // The report that ended the last attempt: its lease token and outcome
  // ("succeeded", or "failed: " + error), so that the same report sent again
  // is told apart from a stale one. Stored, never shown by the API.
  std::string reportedLease;
  std::string reportedOutcome;
  std::string idempotencyKey;
  std::string traceparent;    // W3C trace context (trace_context.hpp)
  bool clientTraced = false;  // not stored: the submitting request carried the traceparent
  std::string tenant;         // of the caller that submitted it (hive.tenancy/1); "" the default
  std::string project;        // of its tenant (hive.projects/1); "" none
  std::int64_t createdAtMs = 0;
  std::int64_t updatedAtMs = 0;
  std::int64_t queuedAtMs = 0;
  std::int64_t startedAtMs = 0;
  std::int64_t finishedAtMs = 0;
  // Not stored: the status it had when it was read from the store (none for a
  // new task), so that a change of status moves the counts (tasks.status.*).
  std::optional<TaskStatus> storedStatus;
};

// A page of GET /api/v2/tasks.
struct TaskPage {
  std::vector<Task> items;
  std::string nextCursor;
};

// GET /api/v2/tasks/stats: counts kept by the transactions, queue depths.
struct TaskStats {
  std::vector<std::pair<TaskStatus, std::int64_t>> byStatus;  // every status, in kAllStatuses order
  std::vector<tasks::QueueDepth> queues;
};

// The furthest ahead a task may be scheduled (`not_before_ms`): 366 days.
inline constexpr std::int64_t kMaxNotBeforeAheadMs = std::int64_t{366} * 24 * 3600 * 1000;

// What the client sent in POST /api/v2/tasks, checked; field errors collected.
// The payload is kept as the exact text sent; a number in it that would not
// read back as written (plugin_common/json_text.hpp) is a field error.
Result<Task> parseSubmission(std::string_view body, const Limits& limits,
                             std::vector<http::FieldError>& errors);

// The stored form (everything) and the API form (no lease token).
std::string toStoredJson(const Task& task);
std::string toApiJson(const Task& task);
// The task in an event (bus, WebSocket, durable log): the API form without the
// payload, which the task document already keeps (`payload_bytes` says how
// big it is), so that each event does not hold another copy of it.
std::string toEventJson(const Task& task);
// "/result/x is beyond the range of a double ..." for the first number of
// `jsonText` that would not read back as written; nullopt when there is none.
std::optional<std::string> inexactNumber(std::string_view jsonText, const std::string& pointer);
Result<Task> fromStoredJson(std::string_view body);

// Capabilities and the name of the queue for a capability set.
bool isCapabilityName(std::string_view name);
std::string capabilityKey(const std::vector<std::string>& capabilities);  // "a,b" ("" = none)
std::string queueFor(const std::vector<std::string>& capabilities);
// "<prefix>h<16 hex digits>": a stable hash (FNV-1a) of `text`, for a store
// name that would be too long spelt out.
std::string hashedName(std::string_view prefix, std::string_view text);
// True when every required capability is in `offered`.
bool covers(const std::vector<std::string>& offered, const std::vector<std::string>& required);

// Tenants' tasks wait apart. A task of a named tenant waits in a queue whose
// capability set also holds "tenant:<name>" — no client's capability can hold
// a ':' — which only an agent of that tenant offers (the orchestrator adds it
// to the capabilities it claims with). Its queue is named by a SHA-256 of the
// set, so that no capability set a client picks can name another tenant's queue
// (plugin_common/tenant_capability.hpp). The set a task's queue requires: its
// capabilities, and its tenant's (sorted).
std::vector<std::string> queueCapabilities(const Task& task);
// Whether an agent offering `offered` may claim from a queue requiring
// `required`: it covers them, and an agent of a named tenant claims only from
// that tenant's queues (a queue without a tenant's is the default tenant's).
bool serves(const std::vector<std::string>& offered, const std::vector<std::string>& required);

// Why the current attempt of `task` ended when its lease ran out: "timed out
// after 30s (attempt 1 of 3, agent a1)".
std::string timedOut(const Task& task);
// "gave up after 3 attempts; last error: ...".
std::string gaveUp(std::uint32_t attempts, const std::string& lastError);

// A new, time-ordered task id: "t" + 12 hex digits of epoch ms + 8 random hex.
inline std::string newTaskId() { return plugin_common::timeOrderedId('t'); }

}  // namespace hive::task_manager
