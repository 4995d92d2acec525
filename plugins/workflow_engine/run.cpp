#include "run.hpp"

#include <algorithm>

#include "plugin_common/json_fields.hpp"

namespace hive::workflow_engine {

namespace json = boost::json;
using plugin_common::stringField;

namespace {

constexpr std::pair<StepStatus, const char*> kStepNames[] = {
    {StepStatus::kPending, "pending"},     {StepStatus::kRunning, "running"},
    {StepStatus::kSucceeded, "succeeded"}, {StepStatus::kFailed, "failed"},
    {StepStatus::kSkipped, "skipped"},     {StepStatus::kCancelled, "cancelled"},
    {StepStatus::kWaiting, "waiting"}};
constexpr std::pair<RunStatus, const char*> kRunNames[] = {{RunStatus::kRunning, "running"},
                                                           {RunStatus::kSucceeded, "succeeded"},
                                                           {RunStatus::kFailed, "failed"},
                                                           {RunStatus::kCancelled, "cancelled"},
                                                           {RunStatus::kPaused, "paused"}};

std::int64_t number(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value && value->is_int64() ? value->get_int64() : 0;
}

void finishStep(StepState& step, StepStatus to, std::int64_t nowMs, std::vector<Change>& changes) {
  changes.push_back({step.name, statusName(step.status), statusName(to)});
  step.status = to;
  step.finishedAtMs = nowMs;
}

// Decides a pending step whose dependencies all finished: true when it is ready.
bool decideStep(Run& run, const Definition& definition, const Step& step, StepState& state,
                std::int64_t nowMs, std::vector<Change>& changes) {
  std::size_t skipped = 0;
  for (std::size_t index : step.dependsOnIndex) {
    const std::string& dependency = definition.steps[index].name;
    const StepState* before = &run.steps[index];
    if (before->status == StepStatus::kFailed && !definition.steps[index].continueOnFailure) {
      state.reason = "dependency '" + dependency + "' failed";
      finishStep(state, StepStatus::kSkipped, nowMs, changes);
      return false;
    }
    if (before->status == StepStatus::kCancelled) {
      state.reason = "dependency '" + dependency + "' was cancelled";
      finishStep(state, StepStatus::kSkipped, nowMs, changes);
      return false;
    }
    if (before->status == StepStatus::kSkipped) ++skipped;
  }
  if (!step.dependsOn.empty() && skipped == step.dependsOn.size()) {
    state.reason = "every dependency was skipped";
    finishStep(state, StepStatus::kSkipped, nowMs, changes);
    return false;
  }
  if (step.when && !truthy(step.when->evaluate(scopeOf(run)))) {
    state.reason = "when is false: " + step.when->text();
    finishStep(state, StepStatus::kSkipped, nowMs, changes);
    return false;
  }
  return true;
}

}  // namespace

const char* statusName(StepStatus status) {
  for (const auto& [value, name] : kStepNames)
    if (value == status) return name;
  return "pending";
}
const char* statusName(RunStatus status) {
  for (const auto& [value, name] : kRunNames)
    if (value == status) return name;
  return "running";
}
bool isOver(RunStatus status) {
  return status == RunStatus::kSucceeded || status == RunStatus::kFailed || status == RunStatus::kCancelled;
}
bool isFinal(StepStatus status) {
  return status != StepStatus::kPending && status != StepStatus::kRunning && status != StepStatus::kWaiting;
}

Run Run::start(std::string id, const Definition& definition, std::int64_t version, json::object params,
               std::int64_t nowMs) {
  Run run;
  run.id = std::move(id);
  run.workflow = definition.name;
  run.version = version;
  run.params = std::move(params);
  for (const Step& step : definition.steps) {
    StepState state;
    state.name = step.name;
    run.steps.push_back(std::move(state));
  }
  run.createdAtMs = run.updatedAtMs = nowMs;
  return run;
}

StepState* Run::step(std::string_view name) {
  for (StepState& step : steps)
    if (step.name == name) return &step;
  return nullptr;
}

json::object Run::toJson() const {
  json::object out;
  out["id"] = id;
  out["workflow"] = workflow;
  out["version"] = version;
  out["status"] = statusName(status);
  out["params"] = params;
  json::array items;
  for (const StepState& step : steps) {
    json::object item;
    item["name"] = step.name;
    item["status"] = statusName(step.status);
    item["task_id"] = step.taskId.empty() ? json::value(nullptr) : json::value(step.taskId);
    if (!step.childRunId.empty()) item["run_id"] = step.childRunId;
    item["result"] = step.result;
    if (!step.error.empty()) item["error"] = step.error;
    if (!step.reason.empty()) item["reason"] = step.reason;
    if (!step.items.empty()) {
      json::array units;
      units.reserve(step.items.size());
      for (const ItemState& unit : step.items) {
        json::object entry{{"status", statusName(unit.status)}};
        entry["task_id"] = unit.taskId.empty() ? json::value(nullptr) : json::value(unit.taskId);
        entry["result"] = unit.result;
        if (!unit.error.empty()) entry["error"] = unit.error;
        units.push_back(std::move(entry));
      }
      item["items"] = std::move(units);
    }
    item["started_at_ms"] = step.startedAtMs;
    item["finished_at_ms"] = step.finishedAtMs;
    if (step.attempt > 0) item["attempt"] = step.attempt;
    items.push_back(std::move(item));
  }
  out["steps"] = std::move(items);
  out["outputs"] = outputs;
  if (!error.empty()) out["error"] = error;
  if (!parentRun.empty()) out["parent"] = json::object{{"run", parentRun}, {"step", parentStep}};
  if (!idempotencyKey.empty()) out["idempotency_key"] = idempotencyKey;
  if (!tenant.empty()) out["tenant"] = tenant;
  out["created_at_ms"] = createdAtMs;
  out["updated_at_ms"] = updatedAtMs;
  out["finished_at_ms"] = finishedAtMs;
  return out;
}

Result<Run> Run::fromJson(std::string_view body) {
  std::error_code ec;
  json::value parsed = json::parse(body, ec);
  if (ec || !parsed.is_object()) return internalError("stored run is not a JSON object");
  const json::object& o = parsed.get_object();
  Run run;
  run.id = stringField(o, "id");
  run.workflow = stringField(o, "workflow");
  run.version = number(o, "version");
  std::string status = stringField(o, "status");
  for (const auto& [value, name] : kRunNames)
    if (status == name) run.status = value;
  if (const json::value* params = o.if_contains("params"); params && params->is_object())
    run.params = params->get_object();
  if (const json::value* steps = o.if_contains("steps"); steps && steps->is_array()) {
    run.steps.reserve(steps->get_array().size());
    for (const json::value& item : steps->get_array()) {
      if (!item.is_object()) return internalError("stored run has a step that is not an object");
      const json::object& s = item.get_object();
      StepState step;
      step.name = stringField(s, "name");
      std::string stepStatus = stringField(s, "status");
      for (const auto& [value, name] : kStepNames)
        if (stepStatus == name) step.status = value;
      step.taskId = stringField(s, "task_id");
      step.childRunId = stringField(s, "run_id");
      if (const json::value* units = s.if_contains("items"); units && units->is_array()) {
        for (const json::value& entry : units->get_array()) {
          if (!entry.is_object()) return internalError("stored run has an item that is not an object");
          const json::object& u = entry.get_object();
          ItemState unit;
          std::string unitStatus = stringField(u, "status");
          for (const auto& [value, name] : kStepNames)
            if (unitStatus == name) unit.status = value;
          unit.taskId = stringField(u, "task_id");
          if (const json::value* result = u.if_contains("result")) unit.result = *result;
          unit.error = stringField(u, "error");
          step.items.push_back(std::move(unit));
        }
      }
      if (const json::value* result = s.if_contains("result")) step.result = *result;
      step.error = stringField(s, "error");
      step.reason = stringField(s, "reason");
      step.startedAtMs = number(s, "started_at_ms");
      step.finishedAtMs = number(s, "finished_at_ms");
      step.attempt = static_cast<int>(number(s, "attempt"));
      run.steps.push_back(std::move(step));
    }
  }
  if (const json::value* outputs = o.if_contains("outputs")) run.outputs = *outputs;
  run.error = stringField(o, "error");
  run.idempotencyKey = stringField(o, "idempotency_key");
  run.tenant = stringField(o, "tenant");
  if (const json::value* parent = o.if_contains("parent"); parent && parent->is_object()) {
    run.parentRun = stringField(parent->get_object(), "run");
    run.parentStep = stringField(parent->get_object(), "step");
  }
  run.createdAtMs = number(o, "created_at_ms");
  run.updatedAtMs = number(o, "updated_at_ms");
  run.finishedAtMs = number(o, "finished_at_ms");
  return run;
}

json::object scopeOf(const Run& run) {
  json::object steps;
  for (const StepState& step : run.steps) {
    json::object item;
    item["status"] = statusName(step.status);
    item["result"] = step.result;
    item["task_id"] = step.taskId.empty() ? json::value(nullptr) : json::value(step.taskId);
    item["error"] = step.error.empty() ? json::value(nullptr) : json::value(step.error);
    steps[step.name] = std::move(item);
  }
  json::object scope;
  scope["params"] = run.params;
  scope["steps"] = std::move(steps);
  scope["run"] = json::object{{"id", run.id}, {"workflow", run.workflow}, {"version", run.version}};
  return scope;
}

namespace {

bool submitted(const StepState& state) { return !state.taskId.empty() || !state.childRunId.empty(); }

// A task's (or a sub-workflow run's) final report as a step's or an item's
// outcome: the result, or why it failed. False while it is not final.
bool outcome(const TaskReport& report, bool childRun, StepStatus& status, json::value& result,
             std::string& error) {
  if (report.status == "succeeded") {
    status = StepStatus::kSucceeded;
    result = report.result;
    return true;
  }
  if (report.status != "failed" && report.status != "dead" && report.status != "cancelled") return false;
  status = StepStatus::kFailed;
  const std::string what = childRun ? "its workflow run " + report.taskId : std::string("its task");
  error = report.status == "cancelled"
              ? what + " was cancelled"
              : what + " " + report.status + (report.error.empty() ? "" : ": " + report.error);
  return true;
}

// Moves a running map step on: finishes it when its items allow, otherwise
// lists the items to submit now, within its parallelism.
void driveMap(Run& run, const Step& step, std::size_t index, std::int64_t nowMs, Progress& progress) {
  StepState& state = run.steps[index];
  std::size_t running = 0, pending = 0;
  const ItemState* firstFailed = nullptr;
  std::size_t firstFailedIndex = 0;
  for (std::size_t i = 0; i < state.items.size(); ++i) {
    const ItemState& item = state.items[i];
    if (item.status == StepStatus::kRunning) ++running;
    if (item.status == StepStatus::kPending) ++pending;
    if (item.status == StepStatus::kFailed && firstFailed == nullptr) {
      firstFailed = &item;
      firstFailedIndex = i;
    }
  }
  const bool stopping = firstFailed != nullptr && step.map->onItemFailure == ItemFailure::kFail;
  if (stopping && pending > 0) {
    // Items not submitted yet are not started; a submission in flight may
    // still create its task, whose outcome is then ignored.
    for (ItemState& item : state.items) {
      if (item.status != StepStatus::kPending) continue;
      item.status = StepStatus::kSkipped;
      item.error = "not started: item " + std::to_string(firstFailedIndex) + " failed";
    }
    progress.touched = true;
    pending = 0;
  }
  if (running == 0 && pending == 0) {
    json::array results;
    results.reserve(state.items.size());
    for (const ItemState& item : state.items) results.push_back(item.result);
    state.result = std::move(results);
    if (stopping) {
      state.error = "item " + std::to_string(firstFailedIndex) + " failed: " + firstFailed->error;
      finishStep(state, StepStatus::kFailed, nowMs, progress.changes);
    } else {
      finishStep(state, StepStatus::kSucceeded, nowMs, progress.changes);
    }
    return;
  }
  if (stopping) return;
  std::size_t window =
      static_cast<std::size_t>(step.map->parallelism) > running ? step.map->parallelism - running : 0;
  for (std::size_t i = 0; i < state.items.size() && window > 0; ++i) {
    if (state.items[i].status != StepStatus::kPending) continue;
    progress.readyItems.push_back({index, i});
    --window;
  }
}

// A map step whose dependencies allow it to run: its list decides how.
void startMap(Run& run, const Step& step, std::size_t index, std::int64_t nowMs, const Limits& limits,
              Progress& progress) {
  StepState& state = run.steps[index];
  json::value list = step.map->over.evaluate(scopeOf(run));
  state.startedAtMs = nowMs;
  if (!list.is_array()) {
    state.error = "map over '" + step.map->over.text() + "' is " +
                  (list.is_null() ? "null" : json::serialize(list).substr(0, 64)) + ", not a list";
    return finishStep(state, StepStatus::kFailed, nowMs, progress.changes);
  }
  if (list.get_array().size() > limits.maxMapItems) {
    state.error = "map over '" + step.map->over.text() + "' has " + std::to_string(list.get_array().size()) +
                  " items, more than max_map_items (" + std::to_string(limits.maxMapItems) + ")";
    return finishStep(state, StepStatus::kFailed, nowMs, progress.changes);
  }
  state.items.assign(list.get_array().size(), ItemState{});
  progress.changes.push_back({state.name, "pending", "running"});
  state.status = StepStatus::kRunning;
  driveMap(run, step, index, nowMs, progress);  // an empty list succeeds at once
}

}  // namespace

std::string unitKey(const std::string& step) { return step; }
std::string unitKey(const std::string& step, std::size_t item) {
  return step + "[" + std::to_string(item) + "]";
}

Progress advance(Run& run, const Definition& definition, const Learnt& learnt, std::int64_t nowMs,
                 const Limits& limits) {
  Progress progress;
  auto& changes = progress.changes;
  for (std::size_t i = 0; i < run.steps.size(); ++i) {
    StepState& state = run.steps[i];
    const Step& step = definition.steps[i];
    if (state.status == StepStatus::kRunning && step.map) {
      for (std::size_t k = 0; k < state.items.size(); ++k) {
        ItemState& item = state.items[k];
        if (item.status != StepStatus::kPending) continue;
        if (auto found = learnt.submitted.find(unitKey(state.name, k)); found != learnt.submitted.end()) {
          item.taskId = found->second;
          item.status = StepStatus::kRunning;
          progress.touched = true;
        } else if (auto refused = learnt.refused.find(unitKey(state.name, k));
                   refused != learnt.refused.end()) {
          item.error = "its task was refused: " + refused->second;
          item.status = StepStatus::kFailed;
          progress.touched = true;
        }
      }
      continue;
    }
    if (state.status != StepStatus::kPending || submitted(state)) continue;
    if (auto found = learnt.submitted.find(unitKey(state.name)); found != learnt.submitted.end()) {
      (step.workflow ? state.childRunId : state.taskId) = found->second;
      state.startedAtMs = nowMs;
      changes.push_back({state.name, "pending", "running"});
      state.status = StepStatus::kRunning;
    } else if (auto refused = learnt.refused.find(unitKey(state.name)); refused != learnt.refused.end()) {
      state.error =
          (step.workflow ? "its workflow run was refused: " : "its task was refused: ") + refused->second;
      finishStep(state, StepStatus::kFailed, nowMs, changes);
    }
  }
  for (std::size_t i = 0; i < run.steps.size(); ++i) {
    StepState& state = run.steps[i];
    if (state.status != StepStatus::kRunning) continue;
    if (definition.steps[i].map) {
      for (ItemState& item : state.items) {
        if (item.status != StepStatus::kRunning) continue;
        auto found = learnt.reports.find(item.taskId);
        if (found != learnt.reports.end() &&
            outcome(found->second, false, item.status, item.result, item.error))
          progress.touched = true;
      }
      continue;
    }
    const bool childRun = !state.childRunId.empty();
    auto found = learnt.reports.find(childRun ? state.childRunId : state.taskId);
    if (found == learnt.reports.end()) continue;
    StepStatus to = StepStatus::kRunning;
    if (outcome(found->second, childRun, to, state.result, state.error))
      finishStep(state, to, nowMs, changes);
  }
  for (std::size_t i = 0; i < run.steps.size(); ++i)
    if (run.steps[i].status == StepStatus::kRunning && definition.steps[i].map)
      driveMap(run, definition.steps[i], i, nowMs, progress);
  if (run.status != RunStatus::kRunning) return progress;
  // Each pass decides every step whose dependencies are final; deciding one
  // (skipped) can make its dependents decidable, hence the loop.
  std::vector<bool> listed(run.steps.size(), false);
  for (bool moved = true; moved;) {
    moved = false;
    for (std::size_t i = 0; i < run.steps.size(); ++i) {
      StepState& state = run.steps[i];
      const Step& step = definition.steps[i];
      if (state.status != StepStatus::kPending || submitted(state) || listed[i]) continue;
      bool waiting = std::any_of(step.dependsOnIndex.begin(), step.dependsOnIndex.end(),
                                 [&](std::size_t d) { return !isFinal(run.steps[d].status); });
      if (waiting) continue;
      if (!decideStep(run, definition, step, state, nowMs, changes)) {
        moved = true;
      } else if (step.approval) {
        changes.push_back({state.name, "pending", "waiting"});
        state.status = StepStatus::kWaiting;
        state.startedAtMs = nowMs;
      } else if (step.map) {
        startMap(run, step, i, nowMs, limits, progress);
        moved = isFinal(state.status) || moved;
      } else {
        progress.ready.push_back(i);
        listed[i] = true;
      }
    }
  }
  bool allFinal =
      std::all_of(run.steps.begin(), run.steps.end(), [](const StepState& s) { return isFinal(s.status); });
  if (allFinal) {
    RunStatus to = RunStatus::kSucceeded;
    for (std::size_t i = 0; i < run.steps.size(); ++i) {
      const StepState& state = run.steps[i];
      if (state.status == StepStatus::kFailed && !definition.steps[i].continueOnFailure) {
        to = RunStatus::kFailed;
        run.error = "step '" + state.name + "' failed: " + state.error;
        break;
      }
    }
    if (to == RunStatus::kSucceeded)
      run.outputs = render(definition.outputs, scopeOf(run), limits.maxExpressionBytes);
    changes.push_back({"", statusName(run.status), statusName(to)});
    run.status = to;
    run.finishedAtMs = nowMs;
  }
  if (!changes.empty() || progress.touched) run.updatedAtMs = nowMs;
  return progress;
}

Status decide(Run& run, const std::string& name, Decision decision, const std::string& by,
              const std::string& comment, std::int64_t nowMs, std::vector<Change>& changes) {
  StepState* state = run.step(name);
  if (state == nullptr) return notFound("run '" + run.id + "' has no step '" + name + "'");
  if (state->status != StepStatus::kWaiting)
    return failedPrecondition("step '" + name + "' is " + statusName(state->status) +
                              ", not waiting for approval");
  const std::string who = by.empty() ? "anonymous" : by;
  if (decision == Decision::kApprove) {
    state->result = json::object{{"approved", true}, {"by", who}, {"comment", comment}};
    finishStep(*state, StepStatus::kSucceeded, nowMs, changes);
  } else {
    state->result = json::object{{"approved", false}, {"by", who}, {"comment", comment}};
    state->error = "rejected by " + who + (comment.empty() ? "" : ": " + comment);
    finishStep(*state, StepStatus::kFailed, nowMs, changes);
  }
  run.updatedAtMs = nowMs;
  return okStatus();
}

Status retry(Run& run, const Definition& definition, std::int64_t nowMs, std::vector<Change>& changes) {
  if (run.status != RunStatus::kFailed && run.status != RunStatus::kCancelled)
    return failedPrecondition("workflow run '" + run.id + "' is " + statusName(run.status) +
                              ": only a failed or cancelled run is retried");
  if (!run.parentRun.empty())
    return failedPrecondition("workflow run '" + run.id + "' is a sub-workflow of run '" + run.parentRun +
                              "': retry that one (it starts this step's workflow again)");
  for (std::size_t i = 0; i < run.steps.size(); ++i) {
    StepState& state = run.steps[i];
    if (state.status == StepStatus::kSucceeded) continue;
    const Step& step = definition.steps[i];
    bool keepItems = step.map && !state.items.empty() &&
                     std::all_of(step.dependsOnIndex.begin(), step.dependsOnIndex.end(), [&](std::size_t d) {
                       return run.steps[d].status == StepStatus::kSucceeded;
                     });
    const std::string from = statusName(state.status);
    ++state.attempt;
    state.error.clear();
    state.reason.clear();
    state.finishedAtMs = 0;
    if (keepItems) {
      for (ItemState& item : state.items)
        if (item.status != StepStatus::kSucceeded) item = ItemState{};
      state.result = nullptr;
      state.status = StepStatus::kRunning;
    } else {
      state.taskId.clear();
      state.childRunId.clear();
      state.items.clear();
      state.result = nullptr;
      state.startedAtMs = 0;
      state.status = StepStatus::kPending;
    }
    changes.push_back({state.name, from, statusName(state.status)});
  }
  changes.push_back({"", statusName(run.status), "running"});
  run.status = RunStatus::kRunning;
  run.error.clear();
  run.outputs = nullptr;
  run.finishedAtMs = 0;
  run.updatedAtMs = nowMs;
  return okStatus();
}

Status pause(Run& run, std::int64_t nowMs, std::vector<Change>& changes) {
  if (run.status != RunStatus::kRunning)
    return failedPrecondition("workflow run '" + run.id + "' is " + statusName(run.status) + ", not running");
  changes.push_back({"", "running", "paused"});
  run.status = RunStatus::kPaused;
  run.updatedAtMs = nowMs;
  return okStatus();
}

Status resume(Run& run, std::int64_t nowMs, std::vector<Change>& changes) {
  if (run.status != RunStatus::kPaused)
    return failedPrecondition("workflow run '" + run.id + "' is " + statusName(run.status) + ", not paused");
  changes.push_back({"", "paused", "running"});
  run.status = RunStatus::kRunning;
  run.updatedAtMs = nowMs;
  return okStatus();
}

std::vector<std::string> cancel(Run& run, std::int64_t nowMs, std::vector<Change>& changes,
                                std::vector<std::string>* childRuns) {
  std::vector<std::string> tasks;
  if (isOver(run.status)) return tasks;
  for (StepState& state : run.steps) {
    if (isFinal(state.status)) continue;
    if (state.status == StepStatus::kRunning && !state.taskId.empty()) tasks.push_back(state.taskId);
    if (state.status == StepStatus::kRunning && !state.childRunId.empty() && childRuns != nullptr)
      childRuns->push_back(state.childRunId);
    for (ItemState& item : state.items) {
      if (isFinal(item.status)) continue;
      if (item.status == StepStatus::kRunning) tasks.push_back(item.taskId);
      item.status = StepStatus::kCancelled;
    }
    state.reason = "the run was cancelled";
    finishStep(state, StepStatus::kCancelled, nowMs, changes);
  }
  changes.push_back({"", statusName(run.status), "cancelled"});
  run.status = RunStatus::kCancelled;
  run.finishedAtMs = run.updatedAtMs = nowMs;
  return tasks;
}

namespace {

std::string taskBodyOf(const Step& step, std::string title, const json::object& scope, const Limits& limits) {
  json::object body = submissionBody(step.task, std::move(title));
  if (step.task.payload) body["payload"] = render(*step.task.payload, scope, limits.maxExpressionBytes);
  return json::serialize(body);
}

}  // namespace

std::string taskBody(const Run& run, const Definition& definition, std::size_t index, const Limits& limits) {
  return taskBody(run, definition, index, scopeOf(run), limits);
}

std::string taskBody(const Run& run, const Definition& definition, std::size_t index,
                     const json::object& scope, const Limits& limits) {
  const Step& step = definition.steps[index];
  return taskBodyOf(step, "workflow " + run.workflow + " run " + run.id + " step " + step.name, scope,
                    limits);
}

std::string itemTaskBody(const Run& run, const Definition& definition, std::size_t index, std::size_t item,
                         const json::value& value, json::object& scope, const Limits& limits) {
  const Step& step = definition.steps[index];
  scope["item"] = value;
  scope["index"] = item;
  return taskBodyOf(
      step,
      "workflow " + run.workflow + " run " + run.id + " step " + step.name + " item " + std::to_string(item),
      scope, limits);
}

json::object childParams(const Run& run, const Definition& definition, std::size_t index,
                         const Limits& limits) {
  json::value rendered =
      render(definition.steps[index].workflow->params, scopeOf(run), limits.maxExpressionBytes);
  return rendered.is_object() ? rendered.get_object() : json::object{};
}

namespace {

// Attempt 0 keeps the keys runs had before retries existed.
std::string attemptSuffix(const Run& run, const std::string& step) {
  for (const StepState& state : run.steps)
    if (state.name == step && state.attempt > 0) return ":attempt" + std::to_string(state.attempt);
  return {};
}

}  // namespace

std::string idempotencyKey(const Run& run, const std::string& step) {
  return "workflow:" + run.id + ":" + step + attemptSuffix(run, step);
}
std::string idempotencyKey(const Run& run, const std::string& step, std::size_t item) {
  return "workflow:" + run.id + ":" + step + ":" + std::to_string(item) + attemptSuffix(run, step);
}

}  // namespace hive::workflow_engine
