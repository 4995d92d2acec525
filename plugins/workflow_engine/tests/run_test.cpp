// The rules that move a run: which steps are ready, skipped, failed; results
// flowing into later payloads; a report heard twice changes nothing.
#include "run.hpp"

#include <gtest/gtest.h>

namespace hive::workflow_engine {
namespace {

namespace json = boost::json;

Definition define(std::string_view text) {
  std::vector<http::FieldError> errors;
  auto parsed = parseDefinitionText(text, {}, errors);
  EXPECT_TRUE(parsed.ok()) << (errors.empty() ? "" : errors[0].field + ": " + errors[0].message);
  return std::move(parsed).value();
}

std::vector<std::string> names(const Run& run, const std::vector<std::size_t>& ready) {
  std::vector<std::string> out;
  for (std::size_t i : ready) out.push_back(run.steps[i].name);
  return out;
}

struct Driver {
  Definition definition;
  Run run;
  std::int64_t now = 1000;

  explicit Driver(std::string_view text, json::object params = {})
      : definition(define(text)), run(Run::start("w1", definition, 1, std::move(params), now)) {}

  Progress step(Learnt learnt = {}) { return advance(run, definition, learnt, ++now, {}); }
  Progress submitted(const std::string& step, const std::string& task) {
    Learnt learnt;
    learnt.submitted[step] = task;
    return this->step(learnt);
  }
  Progress finished(const std::string& task, const std::string& status, json::value result = nullptr) {
    Learnt learnt;
    learnt.reports[task] = {task, status, std::move(result), status == "succeeded" ? "" : "boom"};
    return step(learnt);
  }
  StepStatus status(const std::string& name) { return run.step(name)->status; }
};

constexpr const char* kDiamond =
    R"({"name": "diamond", "params": {"greeting": {"type": "string", "default": "hi"}},
 "steps": [
   {"name": "a", "task": {"type": "echo", "capabilities": ["shell"], "payload": {"n": 1, "say": "${params.greeting}"}}},
   {"name": "b", "depends_on": ["a"], "task": {"type": "echo", "payload": {"files": "${steps.a.result.files}"}}},
   {"name": "c", "depends_on": ["a"], "task": {"type": "echo", "retries": 2, "timeout_seconds": 30}},
   {"name": "d", "depends_on": ["b", "c"], "task": {"type": "echo", "payload": "${steps.b.result.n} and ${steps.c.result.n}"}}],
 "outputs": {"final": "${steps.d.result}"}})";

TEST(WorkflowRun, TheDiamondRunsInDependencyOrderWithResultsFlowingForward) {
  Driver driver(kDiamond, json::object{{"greeting", "hello"}});
  auto progress = driver.step();
  EXPECT_EQ(names(driver.run, progress.ready), (std::vector<std::string>{"a"}));
  EXPECT_EQ(
      json::parse(taskBody(driver.run, driver.definition, 0, {})),
      json::parse(R"({"type": "echo", "title": "workflow diamond run w1 step a", "capabilities": ["shell"],
                            "payload": {"n": 1, "say": "hello"}})"));
  driver.submitted("a", "t-a");
  EXPECT_EQ(driver.status("a"), StepStatus::kRunning);
  EXPECT_TRUE(driver.finished("t-a", "running").ready.empty());  // not final: nothing moves
  progress = driver.finished("t-a", "succeeded", json::parse(R"({"files": ["x.c"], "n": 1})"));
  EXPECT_EQ(names(driver.run, progress.ready), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(json::parse(taskBody(driver.run, driver.definition, 1, {})).at("payload"),
            json::parse(R"({"files": ["x.c"]})"));
  EXPECT_EQ(json::parse(taskBody(driver.run, driver.definition, 2, {})),
            json::parse(R"({"type": "echo", "title": "workflow diamond run w1 step c", "timeout_seconds": 30,
                            "max_attempts": 3})"));
  Learnt both;
  both.submitted = {{"b", "t-b"}, {"c", "t-c"}};
  driver.step(both);
  driver.finished("t-b", "succeeded", json::parse(R"({"n": 2})"));
  EXPECT_TRUE(driver.step().ready.empty());  // d waits for c
  progress = driver.finished("t-c", "succeeded", json::parse(R"({"n": 3})"));
  EXPECT_EQ(names(driver.run, progress.ready), (std::vector<std::string>{"d"}));
  EXPECT_EQ(json::parse(taskBody(driver.run, driver.definition, 3, {})).at("payload"),
            json::value("2 and 3"));
  driver.submitted("d", "t-d");
  progress = driver.finished("t-d", "succeeded", json::parse(R"({"done": true})"));
  EXPECT_EQ(driver.run.status, RunStatus::kSucceeded);
  EXPECT_EQ(driver.run.outputs, json::parse(R"({"final": {"done": true}})"));
  ASSERT_FALSE(progress.changes.empty());
  EXPECT_EQ(progress.changes.back().to, "succeeded");
  EXPECT_TRUE(progress.changes.back().step.empty());
}

TEST(WorkflowRun, AReportHeardTwiceIsAcceptedOnce) {
  Driver driver(kDiamond);
  driver.step();
  driver.submitted("a", "t-a");
  auto first = driver.finished("t-a", "succeeded", json::parse(R"({"n": 1})"));
  EXPECT_EQ(first.changes.size(), 1u);
  auto second = driver.finished("t-a", "failed");  // late, contradicting: ignored
  EXPECT_TRUE(second.changes.empty());
  EXPECT_EQ(driver.status("a"), StepStatus::kSucceeded);
  EXPECT_EQ(driver.run.step("a")->result, json::parse(R"({"n": 1})"));
  // A second answer to a submission does not move a running step either.
  EXPECT_TRUE(driver.submitted("a", "t-other").changes.empty());
}

TEST(WorkflowRun, AFailureSkipsItsDependentsWithTheReasonAndFailsTheRun) {
  Driver driver(kDiamond);
  driver.step();
  driver.submitted("a", "t-a");
  driver.finished("t-a", "succeeded");
  Learnt both;
  both.submitted = {{"b", "t-b"}, {"c", "t-c"}};
  driver.step(both);
  driver.finished("t-b", "dead");
  EXPECT_EQ(driver.status("d"), StepStatus::kPending);  // c still runs: d is not decided yet
  EXPECT_EQ(driver.run.status, RunStatus::kRunning);
  driver.finished("t-c", "succeeded");
  EXPECT_EQ(driver.status("d"), StepStatus::kSkipped);
  EXPECT_EQ(driver.run.step("d")->reason, "dependency 'b' failed");
  EXPECT_EQ(driver.run.step("b")->error, "its task dead: boom");
  EXPECT_EQ(driver.run.status, RunStatus::kFailed);
  EXPECT_EQ(driver.run.error, "step 'b' failed: its task dead: boom");
}

// Retry from the failed step: b failed, d was skipped; a and c keep their
// results; b and d run again, b's task under a new Idempotency-Key (the old
// one would find the failed task).
TEST(WorkflowRun, ARetryRunsWhatDidNotSucceedAndKeepsWhatDid) {
  Driver driver(kDiamond);
  driver.step();
  driver.submitted("a", "t-a");
  driver.finished("t-a", "succeeded", json::parse(R"({"files": ["x"]})"));
  Learnt both;
  both.submitted = {{"b", "t-b"}, {"c", "t-c"}};
  driver.step(both);
  driver.finished("t-b", "failed");
  driver.finished("t-c", "succeeded", json::parse(R"({"n": 3})"));
  ASSERT_EQ(driver.run.status, RunStatus::kFailed);
  const std::string firstKey = idempotencyKey(driver.run, "b");

  std::vector<Change> changes;
  ASSERT_TRUE(retry(driver.run, driver.definition, ++driver.now, changes).ok());
  EXPECT_EQ(driver.run.status, RunStatus::kRunning);
  EXPECT_TRUE(driver.run.error.empty());
  EXPECT_EQ(driver.status("a"), StepStatus::kSucceeded);
  EXPECT_EQ(driver.status("c"), StepStatus::kSucceeded);
  EXPECT_EQ(driver.run.step("c")->result, json::parse(R"({"n": 3})"));
  EXPECT_EQ(driver.status("b"), StepStatus::kPending);
  EXPECT_EQ(driver.status("d"), StepStatus::kPending);
  EXPECT_TRUE(driver.run.step("b")->taskId.empty());
  EXPECT_EQ(driver.run.step("b")->attempt, 1);
  EXPECT_NE(idempotencyKey(driver.run, "b"), firstKey);
  ASSERT_EQ(changes.size(), 3u);  // b and d to pending, the run to running
  EXPECT_EQ(changes.back().to, "running");

  auto progress = driver.step();
  EXPECT_EQ(names(driver.run, progress.ready), (std::vector<std::string>{"b"}));
  driver.finished("t-b", "succeeded");  // the old task, heard late: not b's any more
  EXPECT_EQ(driver.status("b"), StepStatus::kPending);
  driver.submitted("b", "t-b2");
  progress = driver.finished("t-b2", "succeeded", json::parse(R"({"n": 2})"));
  EXPECT_EQ(names(driver.run, progress.ready), (std::vector<std::string>{"d"}));
  driver.submitted("d", "t-d");
  driver.finished("t-d", "succeeded", "done");
  EXPECT_EQ(driver.run.status, RunStatus::kSucceeded);
  EXPECT_EQ(driver.run.outputs, json::parse(R"({"final": "done"})"));
  // The attempt survives the store, and only a failed or cancelled run is retried.
  auto reloaded = Run::fromJson(json::serialize(driver.run.toJson()));
  ASSERT_TRUE(reloaded.ok());
  EXPECT_EQ(reloaded->step("b")->attempt, 1);
  EXPECT_EQ(retry(driver.run, driver.definition, ++driver.now, changes).code(),
            StatusCode::kFailedPrecondition);
}

TEST(WorkflowRun, APausedRunStartsNothingNewUntilResumed) {
  Driver driver(kDiamond);
  driver.step();
  driver.submitted("a", "t-a");
  std::vector<Change> changes;
  ASSERT_TRUE(pause(driver.run, ++driver.now, changes).ok());
  EXPECT_EQ(driver.run.status, RunStatus::kPaused);
  EXPECT_EQ(pause(driver.run, ++driver.now, changes).code(), StatusCode::kFailedPrecondition);
  // What runs finishes and is recorded; its dependents wait.
  auto progress = driver.finished("t-a", "succeeded");
  EXPECT_EQ(driver.status("a"), StepStatus::kSucceeded);
  EXPECT_TRUE(progress.ready.empty());
  EXPECT_EQ(driver.run.status, RunStatus::kPaused);
  ASSERT_TRUE(resume(driver.run, ++driver.now, changes).ok());
  progress = driver.step();
  EXPECT_EQ(names(driver.run, progress.ready), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(resume(driver.run, ++driver.now, changes).code(), StatusCode::kFailedPrecondition);
  // A paused run can be cancelled.
  ASSERT_TRUE(pause(driver.run, ++driver.now, changes).ok());
  cancel(driver.run, ++driver.now, changes);
  EXPECT_EQ(driver.run.status, RunStatus::kCancelled);
}

TEST(WorkflowRun, ContinueOnFailureLetsDependentsRun) {
  Driver driver(R"({"name": "w", "steps": [
    {"name": "lint", "continue_on_failure": true, "task": {"type": "t"}},
    {"name": "report", "depends_on": ["lint"], "task": {"type": "t", "payload": "${steps.lint.status}"}}]})");
  driver.step();
  driver.submitted("lint", "t1");
  auto progress = driver.finished("t1", "failed");
  EXPECT_EQ(names(driver.run, progress.ready), (std::vector<std::string>{"report"}));
  EXPECT_EQ(json::parse(taskBody(driver.run, driver.definition, 1, {})).at("payload"), json::value("failed"));
  driver.submitted("report", "t2");
  driver.finished("t2", "succeeded");
  EXPECT_EQ(driver.run.status, RunStatus::kSucceeded);
}

TEST(WorkflowRun, WhenFalseSkipsAndABranchWithEveryDependencySkippedIsSkipped) {
  Driver driver(R"({"name": "w", "params": {"env": "string"}, "steps": [
    {"name": "plan", "task": {"type": "t"}},
    {"name": "deploy", "depends_on": ["plan"], "when": "params.env == 'prod' and steps.plan.result.ok", "task": {"type": "t"}},
    {"name": "notify", "depends_on": ["deploy"], "task": {"type": "t"}},
    {"name": "dry", "depends_on": ["plan"], "when": "params.env != 'prod'", "task": {"type": "t"}},
    {"name": "end", "depends_on": ["notify", "dry"], "task": {"type": "t", "payload": "${steps.notify.result}"}}]})",
                json::object{{"env", "test"}});
  driver.step();
  driver.submitted("plan", "t1");
  auto progress = driver.finished("t1", "succeeded", json::parse(R"({"ok": true})"));
  EXPECT_EQ(names(driver.run, progress.ready), (std::vector<std::string>{"dry"}));
  EXPECT_EQ(driver.status("deploy"), StepStatus::kSkipped);
  EXPECT_EQ(driver.run.step("deploy")->reason,
            "when is false: params.env == 'prod' and steps.plan.result.ok");
  EXPECT_EQ(driver.status("notify"), StepStatus::kSkipped);
  EXPECT_EQ(driver.run.step("notify")->reason, "every dependency was skipped");
  driver.submitted("dry", "t2");
  progress = driver.finished("t2", "succeeded");
  // `end` has one dependency skipped and one succeeded: it runs, and reads null for the skipped one.
  EXPECT_EQ(names(driver.run, progress.ready), (std::vector<std::string>{"end"}));
  EXPECT_EQ(json::parse(taskBody(driver.run, driver.definition, 4, {})).at("payload"), json::value(nullptr));
}

TEST(WorkflowRun, ARefusedTaskFailsItsStep) {
  Driver driver(kDiamond);
  driver.step();
  Learnt learnt;
  learnt.refused["a"] = "task_manager answered 422: payload too large";
  driver.step(learnt);
  EXPECT_EQ(driver.status("a"), StepStatus::kFailed);
  EXPECT_EQ(driver.run.step("a")->error,
            "its task was refused: task_manager answered 422: payload too large");
  EXPECT_EQ(driver.run.status, RunStatus::kFailed);
  for (const char* name : {"b", "c", "d"}) EXPECT_EQ(driver.status(name), StepStatus::kSkipped) << name;
}

TEST(WorkflowRun, CancelStopsEverythingUnfinishedAndNamesTheRunningTasks) {
  Driver driver(kDiamond);
  driver.step();
  driver.submitted("a", "t-a");
  std::vector<Change> changes;
  EXPECT_EQ(cancel(driver.run, 5000, changes), (std::vector<std::string>{"t-a"}));
  EXPECT_EQ(driver.run.status, RunStatus::kCancelled);
  for (const char* name : {"a", "b", "c", "d"})
    EXPECT_EQ(driver.status(name), StepStatus::kCancelled) << name;
  EXPECT_EQ(changes.size(), 5u);
  // The task's late outcome changes nothing.
  EXPECT_TRUE(driver.finished("t-a", "succeeded").changes.empty());
}

TEST(WorkflowRun, AnApprovalStepWaitsForAPersonThenLetsItsDependentsRun) {
  Driver driver(R"({"name": "w", "steps": [
    {"name": "build", "task": {"type": "t"}},
    {"name": "review", "depends_on": ["build"], "approval": {"description": "look at the diff"}},
    {"name": "merge", "depends_on": ["review"], "task": {"type": "t", "payload": "${steps.review.result.by}"}}]})");
  driver.step();
  driver.submitted("build", "t1");
  auto progress = driver.finished("t1", "succeeded");
  EXPECT_TRUE(progress.ready.empty());  // nothing to submit: a person decides
  EXPECT_EQ(driver.status("review"), StepStatus::kWaiting);
  EXPECT_TRUE(driver.step().changes.empty());  // it stays waiting
  std::vector<Change> changes;
  EXPECT_EQ(decide(driver.run, "merge", Decision::kApprove, "ann", "", 1, changes).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(decide(driver.run, "ghost", Decision::kApprove, "ann", "", 1, changes).code(),
            StatusCode::kNotFound);
  ASSERT_TRUE(decide(driver.run, "review", Decision::kApprove, "ann", "fine", 2, changes).ok());
  EXPECT_EQ(driver.status("review"), StepStatus::kSucceeded);
  progress = driver.step();
  EXPECT_EQ(names(driver.run, progress.ready), (std::vector<std::string>{"merge"}));
  EXPECT_EQ(json::parse(taskBody(driver.run, driver.definition, 2, {})).at("payload"), json::value("ann"));
  // Decided once: a second decision is refused.
  EXPECT_EQ(decide(driver.run, "review", Decision::kReject, "bob", "", 3, changes).code(),
            StatusCode::kFailedPrecondition);
}

TEST(WorkflowRun, ARejectedApprovalFailsTheRun) {
  Driver driver(R"({"name": "w", "steps": [{"name": "gate", "approval": {}},
    {"name": "deploy", "depends_on": ["gate"], "task": {"type": "t"}}]})");
  driver.step();
  EXPECT_EQ(driver.status("gate"), StepStatus::kWaiting);
  std::vector<Change> changes;
  ASSERT_TRUE(decide(driver.run, "gate", Decision::kReject, "bob", "not today", 2, changes).ok());
  driver.step();
  EXPECT_EQ(driver.status("deploy"), StepStatus::kSkipped);
  EXPECT_EQ(driver.run.status, RunStatus::kFailed);
  EXPECT_EQ(driver.run.error, "step 'gate' failed: rejected by bob: not today");
}

TEST(WorkflowRun, ARunSurvivesItsJsonForm) {
  Driver driver(kDiamond);
  driver.step();
  driver.submitted("a", "t-a");
  driver.finished("t-a", "succeeded", json::parse(R"({"files": [1, 2]})"));
  auto copy = Run::fromJson(json::serialize(driver.run.toJson()));
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy->toJson(), driver.run.toJson());
  EXPECT_EQ(idempotencyKey(*copy, "b"), "workflow:w1:b");
}

// ---- map steps ----

constexpr const char* kMap = R"({"name": "fan", "params": {"files": {"type": "array"}},
 "steps": [
   {"name": "each", "map": {"over": "params.files", "parallelism": 2},
    "task": {"type": "lint", "payload": {"file": "${item}", "at": "${index}"}}},
   {"name": "after", "depends_on": ["each"], "task": {"type": "sum", "payload": "${steps.each.result}"}}]})";

std::vector<std::size_t> items(const Progress& progress) {
  std::vector<std::size_t> out;
  for (const ReadyItem& ready : progress.readyItems) out.push_back(ready.item);
  return out;
}

TEST(WorkflowRun, AMapRunsOneTaskPerItemWithinItsParallelismAndGathersTheResultsInOrder) {
  Driver driver(kMap, json::object{{"files", json::array{"a.c", "b.c", "c.c"}}});
  auto progress = driver.step();
  EXPECT_TRUE(progress.ready.empty());
  EXPECT_EQ(items(progress), (std::vector<std::size_t>{0, 1}));  // parallelism 2
  EXPECT_EQ(driver.status("each"), StepStatus::kRunning);
  json::object scope = scopeOf(driver.run);
  EXPECT_EQ(json::parse(itemTaskBody(driver.run, driver.definition, 0, 1, "b.c", scope, {})),
            json::parse(R"({"type": "lint", "title": "workflow fan run w1 step each item 1",
                            "payload": {"file": "b.c", "at": 1}})"));
  // Asked again before the submissions were answered: the same two, no third.
  EXPECT_EQ(items(driver.step()), (std::vector<std::size_t>{0, 1}));
  Learnt both;
  both.submitted = {{unitKey("each", 0), "t0"}, {unitKey("each", 1), "t1"}};
  progress = driver.step(both);
  EXPECT_TRUE(progress.touched);
  EXPECT_TRUE(items(progress).empty());  // two running: the window is full
  // Item 1 finishes first: item 2 may start; the step still runs.
  progress = driver.finished("t1", "succeeded", "B");
  EXPECT_EQ(items(progress), (std::vector<std::size_t>{2}));
  driver.submitted(unitKey("each", 2), "t2");
  driver.finished("t2", "succeeded", "C");
  EXPECT_EQ(driver.status("each"), StepStatus::kRunning);
  driver.finished("t1", "succeeded", "late");  // heard twice: nothing changes
  progress = driver.finished("t0", "succeeded", "A");
  EXPECT_EQ(driver.status("each"), StepStatus::kSucceeded);
  EXPECT_EQ(driver.run.step("each")->result, json::parse(R"(["A", "B", "C"])"));
  EXPECT_EQ(names(driver.run, progress.ready), (std::vector<std::string>{"after"}));
  EXPECT_EQ(json::parse(taskBody(driver.run, driver.definition, 1, {})).at("payload"),
            json::parse(R"(["A", "B", "C"])"));
  // The items survive the run's JSON round trip (what the store keeps).
  auto reloaded = Run::fromJson(json::serialize(driver.run.toJson()));
  ASSERT_TRUE(reloaded.ok());
  ASSERT_EQ(reloaded->step("each")->items.size(), 3u);
  EXPECT_EQ(reloaded->step("each")->items[2].taskId, "t2");
  EXPECT_EQ(reloaded->step("each")->items[0].result, "A");
}

TEST(WorkflowRun, AFailedItemStopsNewItemsAndFailsTheMapOnceTheRunningOnesEnd) {
  Driver driver(kMap, json::object{{"files", json::array{"a", "b", "c", "d"}}});
  driver.step();
  Learnt both;
  both.submitted = {{unitKey("each", 0), "t0"}, {unitKey("each", 1), "t1"}};
  driver.step(both);
  auto progress = driver.finished("t0", "failed");
  EXPECT_TRUE(items(progress).empty());                    // nothing new after a failure
  EXPECT_EQ(driver.status("each"), StepStatus::kRunning);  // item 1 still runs
  EXPECT_EQ(driver.run.step("each")->items[3].status, StepStatus::kSkipped);
  driver.finished("t1", "succeeded", "B");
  EXPECT_EQ(driver.status("each"), StepStatus::kFailed);
  EXPECT_EQ(driver.run.step("each")->error, "item 0 failed: its task failed: boom");
  EXPECT_EQ(driver.run.step("each")->result, json::parse(R"([null, "B", null, null])"));
  EXPECT_EQ(driver.status("after"), StepStatus::kSkipped);
  EXPECT_EQ(driver.run.status, RunStatus::kFailed);
}

// A retried map keeps its succeeded items and runs the others again, under
// new keys.
TEST(WorkflowRun, ARetriedMapRunsOnlyTheItemsThatDidNotSucceed) {
  Driver driver(kMap, json::object{{"files", json::array{"a", "b", "c"}}});
  driver.step();
  Learnt both;
  both.submitted = {{unitKey("each", 0), "t0"}, {unitKey("each", 1), "t1"}};
  driver.step(both);
  driver.finished("t1", "succeeded", "B");
  driver.finished("t0", "failed");
  ASSERT_EQ(driver.run.status, RunStatus::kFailed);
  const std::string firstKey = idempotencyKey(driver.run, "each", 0);
  std::vector<Change> changes;
  ASSERT_TRUE(retry(driver.run, driver.definition, ++driver.now, changes).ok());
  EXPECT_EQ(driver.status("each"), StepStatus::kRunning);
  EXPECT_EQ(driver.run.step("each")->items[1].result, "B");
  EXPECT_NE(idempotencyKey(driver.run, "each", 0), firstKey);
  auto progress = driver.step();
  EXPECT_EQ(items(progress), (std::vector<std::size_t>{0, 2}));
  Learnt again;
  again.submitted = {{unitKey("each", 0), "t0b"}, {unitKey("each", 2), "t2"}};
  driver.step(again);
  driver.finished("t0b", "succeeded", "A");
  driver.finished("t2", "succeeded", "C");
  EXPECT_EQ(driver.status("each"), StepStatus::kSucceeded);
  EXPECT_EQ(driver.run.step("each")->result, json::parse(R"(["A", "B", "C"])"));
}

TEST(WorkflowRun, WithOnItemFailureContinueEveryItemRunsAndAFailedOneGivesNull) {
  std::string text = kMap;
  text.replace(text.find("\"parallelism\": 2"), 16, "\"parallelism\": 5, \"on_item_failure\": \"continue\"");
  Driver driver(text, json::object{{"files", json::array{"a", "b"}}});
  EXPECT_EQ(items(driver.step()), (std::vector<std::size_t>{0, 1}));
  Learnt learnt;
  learnt.submitted = {{unitKey("each", 0), "t0"}};
  learnt.refused = {{unitKey("each", 1), "bad payload"}};
  driver.step(learnt);
  EXPECT_EQ(driver.run.step("each")->items[1].error, "its task was refused: bad payload");
  driver.finished("t0", "succeeded", "A");
  EXPECT_EQ(driver.status("each"), StepStatus::kSucceeded);
  EXPECT_EQ(driver.run.step("each")->result, json::parse(R"(["A", null])"));
}

TEST(WorkflowRun, AMapOverAnEmptyListSucceedsAtOnceAndOverANonListFails) {
  Driver empty(kMap, json::object{{"files", json::array{}}});
  auto progress = empty.step();
  EXPECT_EQ(empty.status("each"), StepStatus::kSucceeded);
  EXPECT_EQ(empty.run.step("each")->result, json::array{});
  EXPECT_EQ(names(empty.run, progress.ready), (std::vector<std::string>{"after"}));

  std::string text = kMap;
  text.replace(text.find("\"type\": \"array\""), 15, "\"type\": \"any\"");
  Driver scalar(text, json::object{{"files", "a.c"}});
  scalar.step();
  EXPECT_EQ(scalar.status("each"), StepStatus::kFailed);
  EXPECT_EQ(scalar.run.step("each")->error, "map over 'params.files' is \"a.c\", not a list");

  Driver large(kMap, json::object{{"files", json::array{1, 2, 3}}});
  Limits limits;
  limits.maxMapItems = 2;
  advance(large.run, large.definition, {}, 2000, limits);
  EXPECT_EQ(large.status("each"), StepStatus::kFailed);
  EXPECT_NE(large.run.step("each")->error.find("more than max_map_items (2)"), std::string::npos);
}

TEST(WorkflowRun, CancelCancelsTheRunningItemsOfAMap) {
  Driver driver(kMap, json::object{{"files", json::array{"a", "b", "c"}}});
  driver.step();
  driver.submitted(unitKey("each", 0), "t0");
  std::vector<Change> changes;
  EXPECT_EQ(cancel(driver.run, 5000, changes), (std::vector<std::string>{"t0"}));
  for (const ItemState& item : driver.run.step("each")->items) EXPECT_EQ(item.status, StepStatus::kCancelled);
}

// ---- sub-workflows ----

TEST(WorkflowRun, ASubWorkflowStepTakesItsRunsOutputsAsItsResult) {
  Driver driver(R"({"name": "outer", "params": {"n": {"type": "integer", "default": 4}},
   "steps": [{"name": "inner", "workflow": {"name": "child", "version": 2, "params": {"x": "${params.n}"}}},
             {"name": "use", "depends_on": ["inner"], "task": {"type": "t", "payload": "${steps.inner.result.y}"}}]})",
                json::object{{"n", 4}});
  auto progress = driver.step();
  EXPECT_EQ(names(driver.run, progress.ready), (std::vector<std::string>{"inner"}));
  EXPECT_EQ(json::value(childParams(driver.run, driver.definition, 0, {})), json::parse(R"({"x": 4})"));
  driver.submitted("inner", "w-child");
  EXPECT_EQ(driver.run.step("inner")->childRunId, "w-child");
  EXPECT_TRUE(driver.run.step("inner")->taskId.empty());
  progress = driver.finished("w-child", "succeeded", json::parse(R"({"y": 9})"));
  EXPECT_EQ(names(driver.run, progress.ready), (std::vector<std::string>{"use"}));
  EXPECT_EQ(json::parse(taskBody(driver.run, driver.definition, 1, {})).at("payload"), 9);
  std::vector<std::string> children;
  std::vector<Change> changes;
  Driver other(R"({"name": "outer", "steps": [{"name": "inner", "workflow": {"name": "child"}}]})");
  other.step();
  other.submitted("inner", "w-2");
  cancel(other.run, 5000, changes, &children);
  EXPECT_EQ(children, (std::vector<std::string>{"w-2"}));
  Driver failing(R"({"name": "outer", "steps": [{"name": "inner", "workflow": {"name": "child"}}]})");
  failing.step();
  failing.submitted("inner", "w-3");
  failing.finished("w-3", "cancelled");
  EXPECT_EQ(failing.run.step("inner")->error, "its workflow run w-3 was cancelled");
  EXPECT_EQ(failing.run.status, RunStatus::kFailed);
}

}  // namespace
}  // namespace hive::workflow_engine
