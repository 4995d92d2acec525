// The state of one workflow run and the rules that move it forward. Pure: no
// store, no bus, no clock of its own; the engine (engine.hpp) loads a run,
// calls advance() with what it learnt, and commits the result in one unit of
// work. A step moves only forward (pending → running → a final status), so a
// task outcome heard twice, or late, changes nothing the second time.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "definition.hpp"

namespace hive::workflow_engine {

enum class StepStatus { kPending, kRunning, kSucceeded, kFailed, kSkipped, kCancelled, kWaiting };
enum class RunStatus { kRunning, kSucceeded, kFailed, kCancelled };

const char* statusName(StepStatus status);
const char* statusName(RunStatus status);
bool isFinal(StepStatus status);

struct StepState {
  std::string name;
  StepStatus status = StepStatus::kPending;
  std::string taskId;
  boost::json::value result;  // the task's result once succeeded
  std::string error;          // why it failed
  std::string reason;         // why it was skipped or cancelled
  std::int64_t startedAtMs = 0;
  std::int64_t finishedAtMs = 0;
};

struct Run {
  std::string id;
  std::string workflow;
  std::int64_t version = 0;
  RunStatus status = RunStatus::kRunning;
  boost::json::object params;
  std::vector<StepState> steps;  // in the definition's order
  boost::json::value outputs;
  std::string error;
  std::int64_t createdAtMs = 0;
  std::int64_t updatedAtMs = 0;
  std::int64_t finishedAtMs = 0;

  static Run start(std::string id, const Definition& definition, std::int64_t version,
                   boost::json::object params, std::int64_t nowMs);
  boost::json::object toJson() const;
  static Result<Run> fromJson(std::string_view text);
  StepState* step(std::string_view name);
};

// What a task looked like when last heard of (an event or a read).
struct TaskReport {
  std::string taskId;
  std::string status;  // task_manager's: pending … succeeded, failed, cancelled, dead
  boost::json::value result;
  std::string error;
};

// One transition, for the events (`step` empty: the run itself).
struct Change {
  std::string step;
  std::string from;
  std::string to;
};

struct Progress {
  std::vector<Change> changes;
  std::vector<std::size_t> ready;  // steps to submit now (pending, no task yet)
};

struct Learnt {
  std::map<std::string, TaskReport> reports;     // by task id
  std::map<std::string, std::string> submitted;  // step → task id
  std::map<std::string, std::string> refused;    // step → why its task was refused
};

Progress advance(Run& run, const Definition& definition, const Learnt& learnt, std::int64_t nowMs,
                 const Limits& limits);
// A person's decision on an approval step that is waiting: succeeded with
// {"approved": true, "by", "comment"} or failed ("rejected by …").
// kNotFound: no such step; kFailedPrecondition: it is not waiting.
enum class Decision { kApprove, kReject };
Status decide(Run& run, const std::string& step, Decision decision, const std::string& by,
              const std::string& comment, std::int64_t nowMs, std::vector<Change>& changes);
// Cancels what has not finished; the task ids of steps that were running.
std::vector<std::string> cancel(Run& run, std::int64_t nowMs, std::vector<Change>& changes);

// What ${...} sees: params, run and steps.<name>.{status,result,task_id,error}.
boost::json::object scopeOf(const Run& run);
// The POST /api/v2/tasks body for step `index`.
std::string taskBody(const Run& run, const Definition& definition, std::size_t index, const Limits& limits);
// Deterministic per run and step: a resubmission after a crash finds the task
// the first submission created (task_manager's Idempotency-Key).
std::string idempotencyKey(const Run& run, const std::string& step);

}  // namespace hive::workflow_engine
