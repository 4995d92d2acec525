// Definitions: the smallest one is accepted as is; every invalid one is refused
// with a JSON pointer to the step and field, before anything runs.
#include "definition.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hive::workflow_engine {
namespace {

namespace json = boost::json;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::Field;
using ::testing::HasSubstr;

constexpr const char* kDiamond = R"({"name": "diamond",
 "steps": [
   {"name": "a", "task": {"type": "echo", "capabilities": ["shell"], "payload": {"n": 1}}},
   {"name": "b", "depends_on": ["a"], "task": {"type": "echo", "capabilities": ["shell"]}},
   {"name": "c", "depends_on": ["a"], "task": {"type": "echo", "capabilities": ["shell"]}},
   {"name": "d", "depends_on": ["b", "c"], "task": {"type": "echo", "capabilities": ["shell"]}}]})";

}  // namespace
}  // namespace hive::workflow_engine

namespace hive::http {
void PrintTo(const FieldError& error, std::ostream* out) { *out << error.field << ": " << error.message; }
}  // namespace hive::http

namespace hive::workflow_engine {
namespace {

std::vector<http::FieldError> errorsOf(std::string_view text, Limits limits = {}) {
  std::vector<http::FieldError> errors;
  auto parsed = parseDefinitionText(text, limits, errors);
  EXPECT_FALSE(parsed.ok()) << text;
  EXPECT_FALSE(errors.empty());
  return errors;
}

auto error(const std::string& field, const std::string& message) {
  return AllOf(Field(&http::FieldError::field, field), Field(&http::FieldError::message, HasSubstr(message)));
}

TEST(WorkflowDefinition, TheSmallestDiamondIsAcceptedAsIs) {
  std::vector<http::FieldError> errors;
  auto parsed = parseDefinitionText(kDiamond, {}, errors);
  ASSERT_TRUE(parsed.ok()) << (errors.empty() ? "" : errors[0].field + ": " + errors[0].message);
  EXPECT_EQ(parsed->name, "diamond");
  ASSERT_EQ(parsed->steps.size(), 4u);
  EXPECT_EQ(parsed->steps[3].dependsOn, (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(parsed->steps[0].task.capabilities, (std::vector<std::string>{"shell"}));
  EXPECT_EQ(parsed->source, json::parse(kDiamond));
}

TEST(WorkflowDefinition, ACycleIsRefusedWithItsPath) {
  auto errors = errorsOf(R"({"name": "w", "steps": [
    {"name": "a", "depends_on": ["c"], "task": {"type": "t"}},
    {"name": "b", "depends_on": ["a"], "task": {"type": "t"}},
    {"name": "c", "depends_on": ["b"], "task": {"type": "t"}}]})");
  EXPECT_THAT(errors, Contains(error("/steps/1/depends_on", "dependency cycle: a -> c -> b -> a")));
}

TEST(WorkflowDefinition, UnknownAndSelfDependenciesAreRefused) {
  auto errors = errorsOf(R"({"name": "w", "steps": [
    {"name": "a", "depends_on": ["a"], "task": {"type": "t"}},
    {"name": "b", "depends_on": ["nope"], "task": {"type": "t"}},
    {"name": "b", "task": {"type": "t"}}]})");
  EXPECT_THAT(errors, Contains(error("/steps/0/depends_on/0", "cannot depend on itself")));
  EXPECT_THAT(errors, Contains(error("/steps/1/depends_on/0", "unknown step 'nope'")));
  EXPECT_THAT(errors, Contains(error("/steps/2/name", "another step is named 'b'")));
}

TEST(WorkflowDefinition, ReferencesMustNameDeclaredParamsAndEarlierSteps) {
  auto errors = errorsOf(R"({"name": "w", "params": {"repo": "string"}, "steps": [
    {"name": "plan", "task": {"type": "t", "payload": {"r": "${params.repo}", "x": "${params.nope}"}}},
    {"name": "side", "task": {"type": "t"}},
    {"name": "impl", "depends_on": ["plan"], "when": "steps.side.status == 'succeeded'",
     "task": {"type": "t", "payload": {"files": ["${steps.plan.result.files}", "${steps.ghost.result}"],
                                       "bad": "${steps.plan.output}", "env": "${env.HOME}"}}}],
    "outputs": {"files": "${steps.impl.result}"}})");
  EXPECT_THAT(errors, Contains(error("/steps/0/task/payload/x", "unknown parameter 'nope'")));
  EXPECT_THAT(errors, Contains(error("/steps/2/when", "step 'side' is not among this step's dependencies")));
  EXPECT_THAT(errors, Contains(error("/steps/2/task/payload/files/1", "unknown step 'ghost'")));
  EXPECT_THAT(errors,
              Contains(error("/steps/2/task/payload/bad", "a step has result, status, task_id and error")));
  EXPECT_THAT(errors, Contains(error("/steps/2/task/payload/env", "unknown reference")));
  EXPECT_EQ(errors.size(), 5u);  // the good references are not reported
}

TEST(WorkflowDefinition, ATransitiveDependencyMayBeReferenced) {
  std::vector<http::FieldError> errors;
  auto parsed = parseDefinitionText(R"({"name": "w", "steps": [
    {"name": "a", "task": {"type": "t"}},
    {"name": "b", "depends_on": ["a"], "task": {"type": "t"}},
    {"name": "c", "depends_on": ["b"], "when": "steps.a.result.ok", "task": {"type": "t", "payload": "${steps.a.result}"}}]})",
                                    {}, errors);
  EXPECT_TRUE(parsed.ok()) << (errors.empty() ? "" : errors[0].field + ": " + errors[0].message);
}

TEST(WorkflowDefinition, BadFieldsAndTypesAreEachReported) {
  auto errors = errorsOf(R"({"name": "Bad Name", "colour": 1, "params": {"n": {"type": "int", "default": 1},
      "s": {"type": "string", "default": 3}},
    "steps": [{"name": "a", "continue_on_failure": "yes", "when": "params.n >",
               "task": {"type": "", "capabilities": ["UPPER"], "priority": 11, "timeout_seconds": 0, "retries": -1,
                        "colour": 2}},
              {"name": "b"}, 7]})");
  EXPECT_THAT(errors, Contains(error("/name", "must be 1-64 characters")));
  EXPECT_THAT(errors, Contains(error("/colour", "unknown field")));
  EXPECT_THAT(errors, Contains(error("/params/n/type", "must be one of string, number")));
  EXPECT_THAT(errors, Contains(error("/params/s/default", "is not of type string")));
  EXPECT_THAT(errors, Contains(error("/steps/0/continue_on_failure", "must be true or false")));
  EXPECT_THAT(errors, Contains(error("/steps/0/when", "column 11: expected a value")));
  EXPECT_THAT(errors, Contains(error("/steps/0/task/type", "must be 1-64 characters")));
  EXPECT_THAT(errors, Contains(error("/steps/0/task/capabilities/0", "must be 1-32 characters")));
  EXPECT_THAT(errors, Contains(error("/steps/0/task/priority", "must be an integer 1-10")));
  EXPECT_THAT(errors, Contains(error("/steps/0/task/timeout_seconds", "from 1 to 2592000")));
  EXPECT_THAT(errors, Contains(error("/steps/0/task/retries", "from 0 to 100")));
  EXPECT_THAT(errors, Contains(error("/steps/0/task/colour", "unknown field")));
  EXPECT_THAT(errors, Contains(error("/steps/1/task", "is required")));
  EXPECT_THAT(errors, Contains(error("/steps/2", "must be an object")));
}

TEST(WorkflowDefinition, AStepHasATaskOrAnApproval) {
  auto errors = errorsOf(R"({"name": "w", "steps": [
    {"name": "a", "task": {"type": "t"}, "approval": {}},
    {"name": "b", "approval": {"description": 3, "who": "me"}},
    {"name": "c", "approval": "yes"}]})");
  EXPECT_THAT(errors, Contains(error("/steps/0/approval", "a task or an approval, not both")));
  EXPECT_THAT(errors, Contains(error("/steps/1/approval/description", "must be a string")));
  EXPECT_THAT(errors, Contains(error("/steps/1/approval/who", "unknown field")));
  EXPECT_THAT(errors, Contains(error("/steps/2/approval", "must be an object")));
}

TEST(WorkflowDefinition, LimitsOnSizeStepsAndExpressions) {
  Limits limits;
  limits.maxSteps = 2;
  limits.maxExpressionBytes = 16;
  limits.maxDefinitionBytes = 300;
  EXPECT_THAT(errorsOf(kDiamond, limits), Contains(error("", "larger than 300 bytes")));
  limits.maxDefinitionBytes = 4096;
  EXPECT_THAT(errorsOf(kDiamond, limits), Contains(error("/steps", "has 4 steps, more than the limit of 2")));
  auto errors = errorsOf(R"({"name": "w", "params": {"abcdefgh": "any"}, "steps": [{"name": "a",
      "when": "params.abcdefgh == 1", "task": {"type": "t", "payload": "${params.abcdefgh == 12345}"}}]})",
                         limits);
  EXPECT_THAT(errors, Contains(error("/steps/0/when", "longer than 16 bytes")));
  EXPECT_THAT(errors, Contains(error("/steps/0/task/payload", "longer than 16 bytes")));
}

TEST(WorkflowDefinition, NotJsonOrNotAnObject) {
  EXPECT_THAT(errorsOf("{"), Contains(error("", "not JSON")));
  EXPECT_THAT(errorsOf("[]"), Contains(error("", "a definition is a JSON object")));
  EXPECT_THAT(errorsOf(R"({"name": "w", "steps": []})"), Contains(error("/steps", "non-empty array")));
}

TEST(WorkflowDefinition, ParamsAreCheckedAndDefaultsFilledIn) {
  std::vector<http::FieldError> errors;
  auto parsed = parseDefinitionText(
      R"({"name": "w", "params": {"repo": "string", "n": {"type": "integer", "default": 2},
      "tags": {"type": "array", "default": []}}, "steps": [{"name": "a", "task": {"type": "t"}}]})",
      {}, errors);
  ASSERT_TRUE(parsed.ok());
  auto bound = bindParams(*parsed, json::parse(R"({"repo": "hive"})"), errors);
  ASSERT_TRUE(bound.ok());
  EXPECT_EQ(json::value(*bound), json::parse(R"({"repo": "hive", "n": 2, "tags": []})"));
  errors.clear();
  EXPECT_FALSE(bindParams(*parsed, json::parse(R"({"n": "two", "extra": 1})"), errors).ok());
  EXPECT_THAT(errors, Contains(error("/params/repo", "is required")));
  EXPECT_THAT(errors, Contains(error("/params/n", "must be of type integer")));
  EXPECT_THAT(errors, Contains(error("/params/extra", "unknown parameter")));
}

TEST(WorkflowDefinition, YamlBecomesTheSameJson) {
  auto converted = yamlToJson(R"(name: diamond
steps:
  - name: a
    task: {type: echo, capabilities: [shell], payload: {n: 1, s: "1", ok: true, none: null}}
  - {name: b, depends_on: [a], task: {type: echo}}
)");
  ASSERT_TRUE(converted.ok()) << converted.status().toString();
  EXPECT_EQ(*converted, json::parse(R"({"name": "diamond", "steps": [
    {"name": "a", "task": {"type": "echo", "capabilities": ["shell"], "payload": {"n": 1, "s": "1", "ok": true, "none": null}}},
    {"name": "b", "depends_on": ["a"], "task": {"type": "echo"}}]})"));
  std::map<std::string, std::string> locations;
  auto located =
      yamlToJson("name: w\nsteps:\n  - name: a\n    depends_on: [ghost]\n    task: {type: t, colour: red}\n",
                 &locations);
  ASSERT_TRUE(located.ok());
  std::vector<http::FieldError> errors;
  EXPECT_FALSE(parseDefinition(*located, {}, errors).ok());
  locate(errors, locations);
  EXPECT_THAT(errors, Contains(error("/steps/0/depends_on/0", "4:18: unknown step 'ghost'")));
  EXPECT_THAT(errors, Contains(error("/steps/0/task/colour", "5:29: unknown field")));
  auto broken = yamlToJson("name: [unclosed\nsteps: 1\n");
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(broken.status().message(), HasSubstr("line "));
}

TEST(WorkflowDefinition, MapStepsAreCheckedWhole) {
  auto errors = errorsOf(R"({"name": "w", "params": {"files": "array"}, "steps": [
    {"name": "a", "map": {"over": "params.files", "parallelism": 0, "on_item_failure": "ignore", "x": 1},
     "task": {"type": "t", "payload": "${item.path} ${index}"}},
    {"name": "b", "map": {"over": "steps.a.result"}, "approval": {}},
    {"name": "c", "map": {"over": "params.nothing"}, "task": {"type": "t"}},
    {"name": "d", "task": {"type": "t", "payload": "${item}"}},
    {"name": "e", "map": {"over": "params.files ="}, "task": {"type": "t"}}]})");
  EXPECT_THAT(errors, Contains(error("/steps/0/map/parallelism", "from 1 to 1000")));
  EXPECT_THAT(errors, Contains(error("/steps/0/map/on_item_failure", "fail or continue")));
  EXPECT_THAT(errors, Contains(error("/steps/0/map/x", "unknown field")));
  EXPECT_THAT(errors, Contains(error("/steps/1/map", "needs a task")));
  EXPECT_THAT(errors, Contains(error("/steps/2/map/over", "unknown parameter 'nothing'")));
  EXPECT_THAT(errors, Contains(error("/steps/3/task/payload", "only in the task of a map step")));
  EXPECT_THAT(errors, Contains(error("/steps/4/map/over", "column")));
  for (const auto& found : errors) EXPECT_NE(found.field, "/steps/0/task/payload") << found.message;
}

TEST(WorkflowDefinition, SubWorkflowStepsAreCheckedAndAWorkflowCannotRunItself) {
  auto errors = errorsOf(R"({"name": "w", "steps": [
    {"name": "a", "workflow": {"name": "w"}},
    {"name": "b", "workflow": {"name": "Bad", "version": 0, "params": []}},
    {"name": "c", "workflow": {"name": "x"}, "task": {"type": "t"}},
    {"name": "d", "workflow": {"name": "x", "params": {"p": "${steps.a.result}"}}}]})");
  EXPECT_THAT(errors, Contains(error("/steps/0/workflow/name", "cannot run itself")));
  EXPECT_THAT(errors, Contains(error("/steps/1/workflow/name", "a workflow name")));
  EXPECT_THAT(errors, Contains(error("/steps/1/workflow/version", "positive integer")));
  EXPECT_THAT(errors, Contains(error("/steps/1/workflow/params", "must be an object")));
  EXPECT_THAT(errors, Contains(error("/steps/2/workflow", "one of task, approval and workflow")));
  EXPECT_THAT(errors, Contains(error("/steps/3/workflow/params/p", "not among this step's dependencies")));
}

}  // namespace
}  // namespace hive::workflow_engine
