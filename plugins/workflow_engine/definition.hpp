// Workflow definitions: parsed from JSON (or YAML), checked whole before
// anything runs, stored as canonical JSON and versioned by name.
// The format is docs/workflows.md; every problem is reported as a JSON pointer
// into the definition and a message, all of them at once.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "expression.hpp"
#include "hive/services/http.hpp"
#include "hive/status.hpp"
#include "schedule.hpp"
#include "task_template.hpp"

namespace hive::workflow_engine {

struct Limits {
  std::size_t maxDefinitionBytes = 256 * 1024;
  std::size_t maxSteps = 1000;
  std::size_t maxExpressionBytes = 1024;
  std::size_t maxParams = 100;
  std::size_t maxMapItems = 1000;  // a map step over a longer list fails
};

enum class ParamType { kString, kNumber, kInteger, kBoolean, kArray, kObject, kAny };

struct Parameter {
  std::string name;
  ParamType type = ParamType::kAny;
  std::optional<boost::json::value> defaultValue;  // absent: the run must give it
};

// A map step runs its task once per item of a list, at most `parallelism` at
// a time; its result is the list of the items' results, in the list's order.
enum class ItemFailure {
  kFail,      // the first failed item stops new ones; the step fails
  kContinue,  // every item runs; a failed one's result is null
};
struct MapSpec {
  Expression over;  // evaluated once the step's dependencies finished
  std::int64_t parallelism = 10;
  ItemFailure onItemFailure = ItemFailure::kFail;
};

// A step that runs another registered workflow; its outputs are the result.
struct SubWorkflow {
  std::string name;
  std::int64_t version = 0;    // 0: the latest when the step starts
  boost::json::object params;  // templates, rendered when the step starts
};

struct Step {
  std::string name;
  std::vector<std::string> dependsOn;
  std::vector<std::size_t> dependsOnIndex;  // the same, as indices into Definition::steps
  std::optional<Expression> when;
  bool continueOnFailure = false;
  TaskTemplate task;
  // An approval step runs no task: it waits for a person (POST …/approve or
  // …/reject) and then succeeds or fails.
  bool approval = false;
  std::string approvalDescription;
  std::optional<MapSpec> map;           // with `task`: one task per item
  std::optional<SubWorkflow> workflow;  // instead of `task`
};

struct Definition {
  std::string name;
  std::string description;
  std::vector<Parameter> params;
  std::vector<Step> steps;              // in the order written
  boost::json::object outputs;          // name → template
  std::vector<ScheduleSpec> schedules;  // declared ones: `schedules` (docs/workflows.md)
  boost::json::value source;            // the definition as given, without "version"

  // The workflows its steps run (sub-workflows), each once.
  std::vector<std::string> calledWorkflows() const;
};

// All problems, each as {JSON pointer, message}; kInvalidArgument when any.
Result<Definition> parseDefinition(const boost::json::value& document, const Limits& limits,
                                   std::vector<http::FieldError>& errors);
// JSON text; "the body is not JSON" as a single error at "".
Result<Definition> parseDefinitionText(std::string_view text, const Limits& limits,
                                       std::vector<http::FieldError>& errors);

// YAML text to JSON: plain scalars that read as numbers, booleans or null become
// those, quoted ones stay strings. kInvalidArgument "line L, column C: problem".
// `locations`, when given, receives "line:column" (1-based) of every node by
// its JSON pointer, so that errors can name the place in the file.
Result<boost::json::value> yamlToJson(std::string_view text,
                                      std::map<std::string, std::string>* locations = nullptr);
// Prefixes each error's message with "line:column: " of the deepest node its
// pointer names.
void locate(std::vector<http::FieldError>& errors, const std::map<std::string, std::string>& locations);

// The params of a run: the given ones checked against the definition (unknown,
// wrong type, missing), defaults filled in. Errors point at /params/<name>.
Result<boost::json::object> bindParams(const Definition& definition, const boost::json::value& given,
                                       std::vector<http::FieldError>& errors);

const char* paramTypeName(ParamType type);

}  // namespace hive::workflow_engine
