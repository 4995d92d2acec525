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
#include "tenant_keys.hpp"

namespace hive::workflow_engine {

// Where runs live in hive.store/1 (docs/workflows.md#durability-what-is-guaranteed).
constexpr const char* kRunsCollection = "workflow_runs";         // indexed by workflow, status
constexpr const char* kRunKeysCollection = "workflow_run_keys";  // Idempotency-Key → run
constexpr const char* kEventStream = "workflows";

enum class StepStatus { kPending, kRunning, kSucceeded, kFailed, kSkipped, kCancelled, kWaiting };
// A paused run starts nothing new; what it runs finishes and is recorded.
enum class RunStatus { kRunning, kSucceeded, kFailed, kCancelled, kPaused };

const char* statusName(StepStatus status);
const char* statusName(RunStatus status);
bool isFinal(StepStatus status);
// Succeeded, failed or cancelled: nothing more happens unless it is retried.
bool isOver(RunStatus status);

// One item of a map step: its own task, its own outcome.
struct ItemState {
  StepStatus status = StepStatus::kPending;  // pending, running, succeeded, failed, skipped, cancelled
  std::string taskId;
  boost::json::value result;
  std::string error;
};

struct StepState {
  std::string name;
  StepStatus status = StepStatus::kPending;
  std::string taskId;
  std::string childRunId;        // a sub-workflow step: the run it started
  std::vector<ItemState> items;  // a map step, once its list is known
  boost::json::value result;     // the task's result once succeeded
  std::string error;             // why it failed
  std::string reason;            // why it was skipped or cancelled
  std::int64_t startedAtMs = 0;
  std::int64_t finishedAtMs = 0;
  int attempt = 0;  // retries of the run that ran this step again (its tasks' keys change with it)
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
  // A sub-workflow's run: the run and step that started it, told when it ends.
  std::string parentRun;
  std::string parentStep;
  std::string idempotencyKey;  // the key it was started with, deleted with it
  std::string tenant;          // of the caller that started it ("": the default tenant)

  static Run start(std::string id, const Definition& definition, std::int64_t version,
                   boost::json::object params, std::int64_t nowMs);
  boost::json::object toJson() const;
  static Result<Run> fromJson(std::string_view text);
  StepState* step(std::string_view name);
};

// What a task looked like when last heard of (an event or a read); for a
// sub-workflow step, what its run ended as (taskId: the run's id, result: its
// outputs).
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

struct ReadyItem {
  std::size_t step = 0;
  std::size_t item = 0;
};

struct Progress {
  std::vector<Change> changes;
  std::vector<std::size_t> ready;     // steps to submit now (pending, no task or run yet)
  std::vector<ReadyItem> readyItems;  // map items to submit now, within each step's parallelism
  bool touched = false;               // map items moved: the run must be written, with no event
};

// What is submitted: a step (its task or sub-workflow run), or one item of a
// map step. The key of Learnt::submitted and refused.
std::string unitKey(const std::string& step);
std::string unitKey(const std::string& step, std::size_t item);

struct Learnt {
  std::map<std::string, TaskReport> reports;     // by task id (or sub-workflow run id)
  std::map<std::string, std::string> submitted;  // unit → task id (or run id)
  std::map<std::string, std::string> refused;    // unit → why it was refused
};

Progress advance(Run& run, const Definition& definition, const Learnt& learnt, std::int64_t nowMs,
                 const Limits& limits);
// A person's decision on an approval step that is waiting: succeeded with
// {"approved": true, "by", "comment"} or failed ("rejected by …").
// kNotFound: no such step; kFailedPrecondition: it is not waiting.
enum class Decision { kApprove, kReject };
Status decide(Run& run, const std::string& step, Decision decision, const std::string& by,
              const std::string& comment, std::int64_t nowMs, std::vector<Change>& changes);
// Runs a failed or cancelled run again from where it stopped: every step that
// did not succeed goes back to pending (a map step whose dependencies all
// succeeded keeps its succeeded items and runs the others again); succeeded
// steps keep their results. kFailedPrecondition for a run that is not failed
// or cancelled, or a sub-workflow's run (retried with its parent).
Status retry(Run& run, const Definition& definition, std::int64_t nowMs, std::vector<Change>& changes);
// running → paused, paused → running; kFailedPrecondition otherwise.
Status pause(Run& run, std::int64_t nowMs, std::vector<Change>& changes);
Status resume(Run& run, std::int64_t nowMs, std::vector<Change>& changes);
// Cancels what has not finished; the task ids of steps and items that were
// running, and in `childRuns` the sub-workflow runs to cancel.
std::vector<std::string> cancel(Run& run, std::int64_t nowMs, std::vector<Change>& changes,
                                std::vector<std::string>* childRuns = nullptr);

// What ${...} sees: params, run and steps.<name>.{status,result,task_id,error}.
boost::json::object scopeOf(const Run& run);
// The POST /api/v2/tasks body for step `index`.
std::string taskBody(const Run& run, const Definition& definition, std::size_t index, const Limits& limits);
// The same with scopeOf(run) computed once for several steps.
std::string taskBody(const Run& run, const Definition& definition, std::size_t index,
                     const boost::json::object& scope, const Limits& limits);
// The POST /api/v2/tasks body for item `item` (value `value`) of map step
// `index`; `scope` is scopeOf(run), lent to add item and index to.
std::string itemTaskBody(const Run& run, const Definition& definition, std::size_t index, std::size_t item,
                         const boost::json::value& value, boost::json::object& scope, const Limits& limits);
// The params a sub-workflow step starts its run with.
boost::json::object childParams(const Run& run, const Definition& definition, std::size_t index,
                                const Limits& limits);
// Deterministic per run and step (and item): a resubmission after a crash
// finds the task (or run) the first submission created (task_manager's
// Idempotency-Key, the runs' own).
std::string idempotencyKey(const Run& run, const std::string& step);
std::string idempotencyKey(const Run& run, const std::string& step, std::size_t item);

}  // namespace hive::workflow_engine
