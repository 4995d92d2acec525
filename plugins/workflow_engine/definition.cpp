#include "definition.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include <yaml-cpp/yaml.h>

namespace hive::workflow_engine {

namespace json = boost::json;

namespace {

bool isName(std::string_view text) {
  if (text.empty() || text.size() > 64 || !(text[0] >= 'a' && text[0] <= 'z')) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

std::optional<ParamType> parseType(std::string_view name) {
  static const std::pair<std::string_view, ParamType> kTypes[] = {
      {"string", ParamType::kString},   {"number", ParamType::kNumber}, {"integer", ParamType::kInteger},
      {"boolean", ParamType::kBoolean}, {"array", ParamType::kArray},   {"object", ParamType::kObject},
      {"any", ParamType::kAny}};
  for (const auto& [text, type] : kTypes)
    if (text == name) return type;
  return std::nullopt;
}

bool hasType(const json::value& value, ParamType type) {
  switch (type) {
    case ParamType::kString: return value.is_string();
    case ParamType::kNumber: return value.is_number();
    case ParamType::kInteger:
      return value.is_int64() || value.is_uint64() ||
             (value.is_double() &&
              value.get_double() == static_cast<double>(static_cast<std::int64_t>(value.get_double())));
    case ParamType::kBoolean: return value.is_bool();
    case ParamType::kArray: return value.is_array();
    case ParamType::kObject: return value.is_object();
    case ParamType::kAny: return true;
  }
  return false;
}

void unknownKeys(const json::object& object, std::initializer_list<std::string_view> known,
                 const std::string& at, std::vector<http::FieldError>& errors) {
  for (const auto& [key, value] : object) {
    if (std::find(known.begin(), known.end(), std::string_view(key)) == known.end())
      errors.push_back({at + "/" + pointerToken(key), "unknown field"});
  }
}

// What a step (or the outputs, with `step` null) may reference.
struct Scope {
  const Definition* definition = nullptr;
  const std::set<std::string>* ancestors = nullptr;  // null: every step (outputs)
  bool mapItem = false;                              // a map step's task: item and index exist
};

void checkReference(const Path& path, const Scope& scope, const std::string& at,
                    std::vector<http::FieldError>& errors) {
  const std::string text = pathText(path);
  if (path[0] == "params") {
    if (path.size() < 2) return errors.push_back({at, "'" + text + "': name a parameter (params.<name>)"});
    const auto& params = scope.definition->params;
    if (std::none_of(params.begin(), params.end(), [&](const Parameter& p) { return p.name == path[1]; }))
      errors.push_back({at, "'" + text + "': unknown parameter '" + path[1] + "'"});
  } else if (path[0] == "steps") {
    if (path.size() < 2) return errors.push_back({at, "'" + text + "': name a step (steps.<name>.result)"});
    const auto& steps = scope.definition->steps;
    if (std::none_of(steps.begin(), steps.end(), [&](const Step& s) { return s.name == path[1]; }))
      return errors.push_back({at, "'" + text + "': unknown step '" + path[1] + "'"});
    if (scope.ancestors != nullptr && !scope.ancestors->count(path[1]))
      return errors.push_back(
          {at, "'" + text + "': step '" + path[1] + "' is not among this step's dependencies (depends_on)"});
    if (path.size() >= 3 && path[2] != "result" && path[2] != "status" && path[2] != "task_id" &&
        path[2] != "error")
      errors.push_back({at, "'" + text + "': a step has result, status, task_id and error"});
  } else if (path[0] == "item" || path[0] == "index") {
    if (!scope.mapItem)
      errors.push_back({at, "'" + text + "': item and index exist only in the task of a map step"});
    else if (path[0] == "index" && path.size() != 1)
      errors.push_back({at, "'" + text + "': index is a number"});
  } else if (path[0] == "run") {
    if (path.size() != 2 || (path[1] != "id" && path[1] != "workflow" && path[1] != "version"))
      errors.push_back({at, "'" + text + "': run has id, workflow and version"});
  } else {
    errors.push_back({at, "'" + text + "': unknown reference (params, steps, run; item, index in a map)"});
  }
}

void checkTemplates(const json::value& value, const Scope& scope, const Limits& limits, const std::string& at,
                    std::vector<http::FieldError>& errors) {
  if (value.is_string()) {
    auto placeholders = scanTemplate(value.get_string(), limits.maxExpressionBytes);
    if (!placeholders.ok()) return errors.push_back({at, placeholders.status().message()});
    for (const auto& placeholder : *placeholders)
      for (const auto& path : placeholder.expression.references()) checkReference(path, scope, at, errors);
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.get_array().size(); ++i)
      checkTemplates(value.get_array()[i], scope, limits, at + "/" + std::to_string(i), errors);
  } else if (value.is_object()) {
    for (const auto& [key, item] : value.get_object())
      checkTemplates(item, scope, limits, at + "/" + pointerToken(key), errors);
  }
}

void parseParams(const json::value& value, Definition& definition, const Limits& limits,
                 std::vector<http::FieldError>& errors) {
  if (!value.is_object()) return errors.push_back({"/params", "must be an object of parameter name to spec"});
  if (value.get_object().size() > limits.maxParams)
    return errors.push_back({"/params", "more than " + std::to_string(limits.maxParams) + " parameters"});
  for (const auto& [key, spec] : value.get_object()) {
    std::string at = "/params/" + pointerToken(key);
    Parameter param;
    param.name = std::string(key);
    if (!isName(param.name))
      errors.push_back(
          {at, "a parameter name is 1-64 characters of a-z, 0-9, '_', '-', starting with a letter"});
    const json::value* type = &spec;
    if (spec.is_object()) {
      unknownKeys(spec.get_object(), {"type", "default", "description"}, at, errors);
      type = spec.get_object().if_contains("type");
      if (const json::value* fallback = spec.get_object().if_contains("default"))
        param.defaultValue = *fallback;
      if (const json::value* text = spec.get_object().if_contains("description"); text && !text->is_string())
        errors.push_back({at + "/description", "must be a string"});
      at += "/type";
    }
    if (type == nullptr) {
      param.type = ParamType::kAny;
    } else if (auto parsed = type->is_string() ? parseType(type->get_string()) : std::nullopt) {
      param.type = *parsed;
    } else {
      errors.push_back({at, "must be one of string, number, integer, boolean, array, object, any"});
    }
    if (param.defaultValue && !hasType(*param.defaultValue, param.type))
      errors.push_back({"/params/" + pointerToken(key) + "/default",
                        std::string("is not of type ") + paramTypeName(param.type)});
    definition.params.push_back(std::move(param));
  }
}

void parseMap(const json::value& value, Step& step, const Limits& limits, const std::string& at,
              std::vector<http::FieldError>& errors) {
  if (!value.is_object())
    return errors.push_back({at, "must be an object with over (an expression giving the list)"});
  const json::object& object = value.get_object();
  unknownKeys(object, {"over", "parallelism", "on_item_failure"}, at, errors);
  MapSpec map;
  const json::value* over = object.if_contains("over");
  if (over == nullptr || !over->is_string()) {
    errors.push_back({at + "/over", "is required: an expression giving the list (params.files)"});
  } else {
    auto parsed = Expression::parse(over->get_string(), limits.maxExpressionBytes);
    if (!parsed.ok())
      errors.push_back({at + "/over", parsed.status().message()});
    else
      map.over = std::move(parsed).value();
  }
  if (const json::value* parallelism = object.if_contains("parallelism")) {
    if (!parallelism->is_int64() || parallelism->get_int64() < 1 || parallelism->get_int64() > 1000)
      errors.push_back({at + "/parallelism", "must be an integer from 1 to 1000"});
    else
      map.parallelism = parallelism->get_int64();
  }
  if (const json::value* policy = object.if_contains("on_item_failure")) {
    if (policy->is_string() && policy->get_string() == "fail")
      map.onItemFailure = ItemFailure::kFail;
    else if (policy->is_string() && policy->get_string() == "continue")
      map.onItemFailure = ItemFailure::kContinue;
    else
      errors.push_back({at + "/on_item_failure", "must be fail or continue"});
  }
  step.map = std::move(map);
}

void parseSubWorkflow(const json::value& value, Step& step, const std::string& at,
                      std::vector<http::FieldError>& errors) {
  if (!value.is_object()) return errors.push_back({at, "must be an object with the workflow's name"});
  const json::object& object = value.get_object();
  unknownKeys(object, {"name", "version", "params"}, at, errors);
  SubWorkflow workflow;
  const json::value* name = object.if_contains("name");
  if (name == nullptr)
    errors.push_back({at + "/name", "is required"});
  else if (!name->is_string() || !isName(name->get_string()))
    errors.push_back({at + "/name", "must be a workflow name"});
  else
    workflow.name = std::string(name->get_string());
  if (const json::value* version = object.if_contains("version")) {
    if (!version->is_int64() || version->get_int64() < 1)
      errors.push_back({at + "/version", "must be a positive integer (absent: the latest)"});
    else
      workflow.version = version->get_int64();
  }
  if (const json::value* params = object.if_contains("params")) {
    if (!params->is_object())
      errors.push_back({at + "/params", "must be an object of parameter name to template"});
    else
      workflow.params = params->get_object();
  }
  step.workflow = std::move(workflow);
}

void parseStep(const json::value& value, std::size_t index, Definition& definition, const Limits& limits,
               std::vector<http::FieldError>& errors) {
  std::string at = "/steps/" + std::to_string(index);
  Step step;
  if (!value.is_object()) {
    errors.push_back({at, "must be an object with a name and a task"});
    definition.steps.push_back(std::move(step));
    return;
  }
  const json::object& object = value.get_object();
  unknownKeys(object,
              {"name", "depends_on", "when", "continue_on_failure", "task", "approval", "workflow", "map",
               "description"},
              at, errors);
  const json::value* name = object.if_contains("name");
  if (name == nullptr)
    errors.push_back({at + "/name", "is required"});
  else if (!name->is_string() || !isName(name->get_string()))
    errors.push_back({at + "/name", "must be 1-64 characters of a-z, 0-9, '_', '-', starting with a letter"});
  else
    step.name = std::string(name->get_string());
  if (const json::value* depends = object.if_contains("depends_on")) {
    if (!depends->is_array() || depends->get_array().size() > limits.maxSteps) {
      errors.push_back({at + "/depends_on", "must be an array of step names"});
    } else {
      for (std::size_t i = 0; i < depends->get_array().size(); ++i) {
        const json::value& dependency = depends->get_array()[i];
        if (!dependency.is_string())
          errors.push_back({at + "/depends_on/" + std::to_string(i), "must be a step name"});
        else
          step.dependsOn.emplace_back(dependency.get_string());
      }
    }
  }
  if (const json::value* when = object.if_contains("when")) {
    if (!when->is_string()) {
      errors.push_back({at + "/when", "must be an expression (a string)"});
    } else {
      auto parsed = Expression::parse(when->get_string(), limits.maxExpressionBytes);
      if (!parsed.ok())
        errors.push_back({at + "/when", parsed.status().message()});
      else
        step.when = std::move(parsed).value();
    }
  }
  if (const json::value* flag = object.if_contains("continue_on_failure")) {
    if (!flag->is_bool())
      errors.push_back({at + "/continue_on_failure", "must be true or false"});
    else
      step.continueOnFailure = flag->get_bool();
  }
  if (const json::value* description = object.if_contains("description");
      description && !description->is_string())
    errors.push_back({at + "/description", "must be a string"});
  const json::value* task = object.if_contains("task");
  const json::value* approval = object.if_contains("approval");
  const json::value* workflow = object.if_contains("workflow");
  const json::value* map = object.if_contains("map");
  if (task != nullptr && approval != nullptr) {
    errors.push_back({at + "/approval", "a step has a task or an approval, not both"});
  } else if (workflow != nullptr && (task != nullptr || approval != nullptr)) {
    errors.push_back({at + "/workflow", "a step has one of task, approval and workflow"});
  } else if (approval != nullptr) {
    step.approval = true;
    if (!approval->is_object()) {
      errors.push_back({at + "/approval", "must be an object (with an optional description)"});
    } else {
      unknownKeys(approval->get_object(), {"description"}, at + "/approval", errors);
      if (const json::value* text = approval->get_object().if_contains("description")) {
        if (!text->is_string() || text->get_string().size() > 4096)
          errors.push_back({at + "/approval/description", "must be a string of at most 4096 bytes"});
        else
          step.approvalDescription = std::string(text->get_string());
      }
    }
  } else if (workflow != nullptr) {
    parseSubWorkflow(*workflow, step, at + "/workflow", errors);
  } else if (task != nullptr) {
    parseTaskTemplate(*task, at + "/task", step.task, errors);
  } else {
    errors.push_back({at + "/task", "is required (or an approval, or a workflow)"});
  }
  if (map != nullptr) {
    if (task == nullptr)
      errors.push_back({at + "/map", "a map step runs a task per item: it needs a task"});
    else
      parseMap(*map, step, limits, at + "/map", errors);
  }
  definition.steps.push_back(std::move(step));
}

// Names dependencies that do not exist and the first cycle found; fills
// `ancestors` (every step a step transitively depends on) when there is none.
bool checkGraph(const Definition& definition, std::vector<std::set<std::string>>& ancestors,
                std::vector<http::FieldError>& errors) {
  std::map<std::string, std::size_t> byName;
  for (std::size_t i = 0; i < definition.steps.size(); ++i) {
    const std::string& name = definition.steps[i].name;
    if (name.empty()) continue;
    if (!byName.emplace(name, i).second)
      errors.push_back({"/steps/" + std::to_string(i) + "/name", "another step is named '" + name + "'"});
  }
  bool sound = true;
  for (std::size_t i = 0; i < definition.steps.size(); ++i) {
    const Step& step = definition.steps[i];
    std::set<std::string> seen;
    for (std::size_t j = 0; j < step.dependsOn.size(); ++j) {
      const std::string& dependency = step.dependsOn[j];
      std::string at = "/steps/" + std::to_string(i) + "/depends_on/" + std::to_string(j);
      if (!byName.count(dependency)) {
        errors.push_back({at, "unknown step '" + dependency + "'"});
        sound = false;
      } else if (dependency == step.name) {
        errors.push_back({at, "a step cannot depend on itself"});
        sound = false;
      } else if (!seen.insert(dependency).second) {
        errors.push_back({at, "'" + dependency + "' is listed twice"});
      }
    }
  }
  if (!sound) return false;
  // Depth-first search; a grey node met again closes a cycle.
  enum class Color { kWhite, kGrey, kBlack };
  std::vector<Color> color(definition.steps.size(), Color::kWhite);
  std::vector<std::size_t> stack;
  std::function<bool(std::size_t)> visit = [&](std::size_t i) -> bool {
    color[i] = Color::kGrey;
    stack.push_back(i);
    for (const std::string& dependency : definition.steps[i].dependsOn) {
      std::size_t j = byName.at(dependency);
      if (color[j] == Color::kGrey) {
        std::string cycle;
        auto from = std::find(stack.begin(), stack.end(), j);
        for (auto it = from; it != stack.end(); ++it) cycle += definition.steps[*it].name + " -> ";
        cycle += definition.steps[j].name;
        errors.push_back({"/steps/" + std::to_string(i) + "/depends_on", "dependency cycle: " + cycle});
        return false;
      }
      if (color[j] == Color::kWhite && !visit(j)) return false;
    }
    stack.pop_back();
    color[i] = Color::kBlack;
    return true;
  };
  for (std::size_t i = 0; i < definition.steps.size(); ++i)
    if (color[i] == Color::kWhite && !visit(i)) return false;
  // Ancestors in an order where dependencies come first (the colors above
  // guarantee there is one).
  ancestors.assign(definition.steps.size(), {});
  std::vector<bool> done(definition.steps.size(), false);
  std::function<void(std::size_t)> collect = [&](std::size_t i) {
    if (done[i]) return;
    for (const std::string& dependency : definition.steps[i].dependsOn) {
      std::size_t j = byName.at(dependency);
      collect(j);
      ancestors[i].insert(dependency);
      ancestors[i].insert(ancestors[j].begin(), ancestors[j].end());
    }
    done[i] = true;
  };
  for (std::size_t i = 0; i < definition.steps.size(); ++i) collect(i);
  return true;
}

}  // namespace

const char* paramTypeName(ParamType type) {
  switch (type) {
    case ParamType::kString: return "string";
    case ParamType::kNumber: return "number";
    case ParamType::kInteger: return "integer";
    case ParamType::kBoolean: return "boolean";
    case ParamType::kArray: return "array";
    case ParamType::kObject: return "object";
    case ParamType::kAny: return "any";
  }
  return "any";
}

Result<Definition> parseDefinition(const json::value& document, const Limits& limits,
                                   std::vector<http::FieldError>& errors) {
  Definition definition;
  if (!document.is_object()) {
    errors.push_back({"", "a definition is a JSON object with a name and steps"});
    return invalidArgument("the definition is not valid");
  }
  const json::object& object = document.get_object();
  unknownKeys(object, {"name", "description", "params", "steps", "outputs", "schedules"}, "", errors);
  const json::value* name = object.if_contains("name");
  if (name == nullptr)
    errors.push_back({"/name", "is required"});
  else if (!name->is_string() || !isName(name->get_string()))
    errors.push_back({"/name", "must be 1-64 characters of a-z, 0-9, '_', '-', starting with a letter"});
  else
    definition.name = std::string(name->get_string());
  if (const json::value* description = object.if_contains("description")) {
    if (!description->is_string() || description->get_string().size() > 4096)
      errors.push_back({"/description", "must be a string of at most 4096 bytes"});
    else
      definition.description = std::string(description->get_string());
  }
  if (const json::value* params = object.if_contains("params"))
    parseParams(*params, definition, limits, errors);
  const json::value* steps = object.if_contains("steps");
  if (steps == nullptr || !steps->is_array() || steps->get_array().empty()) {
    errors.push_back({"/steps", "must be a non-empty array of steps"});
  } else if (steps->get_array().size() > limits.maxSteps) {
    errors.push_back({"/steps", "has " + std::to_string(steps->get_array().size()) +
                                    " steps, more than the limit of " + std::to_string(limits.maxSteps)});
  } else {
    for (std::size_t i = 0; i < steps->get_array().size(); ++i)
      parseStep(steps->get_array()[i], i, definition, limits, errors);
  }
  if (const json::value* outputs = object.if_contains("outputs")) {
    if (!outputs->is_object())
      errors.push_back({"/outputs", "must be an object of output name to template"});
    else
      definition.outputs = outputs->get_object();
  }
  std::vector<std::set<std::string>> ancestors;
  if (!definition.steps.empty() && checkGraph(definition, ancestors, errors)) {
    // Runs look dependencies up at each transition: by index, not by name.
    std::map<std::string_view, std::size_t> indexOf;
    for (std::size_t i = 0; i < definition.steps.size(); ++i) indexOf.emplace(definition.steps[i].name, i);
    for (Step& step : definition.steps)
      for (const std::string& dependency : step.dependsOn)
        step.dependsOnIndex.push_back(indexOf.at(dependency));
    for (std::size_t i = 0; i < definition.steps.size(); ++i) {
      const Step& step = definition.steps[i];
      Scope scope{&definition, &ancestors[i]};
      std::string at = "/steps/" + std::to_string(i);
      if (step.when)
        for (const auto& path : step.when->references()) checkReference(path, scope, at + "/when", errors);
      if (step.map)
        for (const auto& path : step.map->over.references())
          checkReference(path, scope, at + "/map/over", errors);
      if (step.workflow)
        checkTemplates(step.workflow->params, scope, limits, at + "/workflow/params", errors);
      scope.mapItem = step.map.has_value();
      if (step.task.payload) checkTemplates(*step.task.payload, scope, limits, at + "/task/payload", errors);
    }
    checkTemplates(definition.outputs, Scope{&definition, nullptr}, limits, "/outputs", errors);
  }
  if (const json::value* schedules = object.if_contains("schedules")) {
    if (!schedules->is_array() || schedules->get_array().size() > 100) {
      errors.push_back({"/schedules", "must be an array of at most 100 schedules"});
    } else {
      for (std::size_t i = 0; i < schedules->get_array().size(); ++i) {
        const std::string at = "/schedules/" + std::to_string(i);
        auto spec = parseSchedule(schedules->get_array()[i], at, errors);
        if (!spec) continue;
        if (spec->version > 0) {
          errors.push_back({at + "/version", "a declared schedule runs the version that declares it"});
          continue;
        }
        std::vector<http::FieldError> params;
        if (!bindParams(definition, spec->params, params).ok())
          for (auto& error : params) errors.push_back({at + error.field, error.message});
        definition.schedules.push_back(std::move(*spec));
      }
    }
  }
  for (std::size_t i = 0; i < definition.steps.size(); ++i)
    if (definition.steps[i].workflow && definition.steps[i].workflow->name == definition.name)
      errors.push_back({"/steps/" + std::to_string(i) + "/workflow/name", "a workflow cannot run itself"});
  if (!errors.empty()) return invalidArgument("the definition is not valid");
  definition.source = document;
  return definition;
}

std::vector<std::string> Definition::calledWorkflows() const {
  std::vector<std::string> names;
  for (const Step& step : steps)
    if (step.workflow && std::find(names.begin(), names.end(), step.workflow->name) == names.end())
      names.push_back(step.workflow->name);
  return names;
}

Result<Definition> parseDefinitionText(std::string_view text, const Limits& limits,
                                       std::vector<http::FieldError>& errors) {
  if (text.size() > limits.maxDefinitionBytes) {
    errors.push_back(
        {"", "the definition is larger than " + std::to_string(limits.maxDefinitionBytes) + " bytes"});
    return invalidArgument("the definition is too large");
  }
  std::error_code ec;
  json::value document = json::parse(text, ec);
  if (ec) {
    errors.push_back({"", "not JSON: " + ec.message()});
    return invalidArgument("the definition is not JSON");
  }
  return parseDefinition(document, limits, errors);
}

namespace {

json::value fromYaml(const YAML::Node& node, const std::string& pointer,
                     std::map<std::string, std::string>* locations) {
  if (locations != nullptr && !node.Mark().is_null())
    (*locations)[pointer] =
        std::to_string(node.Mark().line + 1) + ":" + std::to_string(node.Mark().column + 1);
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Sequence: {
      json::array out;
      for (const auto& item : node)
        out.push_back(fromYaml(item, pointer + "/" + std::to_string(out.size()), locations));
      return out;
    }
    case YAML::NodeType::Map: {
      json::object out;
      for (const auto& entry : node) {
        std::string key = entry.first.as<std::string>();
        out[key] = fromYaml(entry.second, pointer + "/" + pointerToken(key), locations);
      }
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      if (node.Tag() == "!") return json::string(text);  // quoted: always a string
      if (text == "true") return true;
      if (text == "false") return false;
      if (text == "null" || text == "~" || text.empty()) return nullptr;
      std::error_code ec;
      json::value number = json::parse(text, ec);
      if (!ec && number.is_number()) return number;
      return json::string(text);
    }
  }
  return nullptr;
}

}  // namespace

Result<json::value> yamlToJson(std::string_view text, std::map<std::string, std::string>* locations) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    return fromYaml(root, "", locations);
  } catch (const YAML::Exception& error) {
    return invalidArgument("line " + std::to_string(error.mark.line + 1) + ", column " +
                           std::to_string(error.mark.column + 1) + ": " + error.msg);
  } catch (const std::exception& error) {
    return invalidArgument(std::string("not YAML: ") + error.what());
  }
}

void locate(std::vector<http::FieldError>& errors, const std::map<std::string, std::string>& locations) {
  for (auto& error : errors) {
    // An unknown or missing field has no node of its own: name its parent's.
    for (std::string pointer = error.field;; pointer.erase(pointer.rfind('/'))) {
      if (auto found = locations.find(pointer); found != locations.end()) {
        error.message = found->second + ": " + error.message;
        break;
      }
      if (pointer.empty()) break;
    }
  }
}

Result<json::object> bindParams(const Definition& definition, const json::value& given,
                                std::vector<http::FieldError>& errors) {
  json::object out;
  if (!given.is_null() && !given.is_object()) {
    errors.push_back({"/params", "must be an object of parameter name to value"});
    return invalidArgument("bad params");
  }
  static const json::object kEmpty;
  const json::object& values = given.is_object() ? given.get_object() : kEmpty;
  for (const auto& [key, value] : values) {
    if (std::none_of(definition.params.begin(), definition.params.end(),
                     [&](const Parameter& p) { return p.name == std::string_view(key); }))
      errors.push_back({"/params/" + pointerToken(key), "unknown parameter"});
  }
  for (const Parameter& param : definition.params) {
    const json::value* value = values.if_contains(param.name);
    if (value == nullptr) {
      if (param.defaultValue)
        out[param.name] = *param.defaultValue;
      else
        errors.push_back({"/params/" + pointerToken(param.name), "is required"});
    } else if (!hasType(*value, param.type)) {
      errors.push_back({"/params/" + pointerToken(param.name),
                        std::string("must be of type ") + paramTypeName(param.type)});
    } else {
      out[param.name] = *value;
    }
  }
  if (!errors.empty()) return invalidArgument("the params are not valid");
  return out;
}

}  // namespace hive::workflow_engine
