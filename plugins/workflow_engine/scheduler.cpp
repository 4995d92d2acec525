#include "scheduler.hpp"

#include <optional>

#include "plugin_common/clock_ids.hpp"
#include "plugin_common/json_fields.hpp"
#include "task_template.hpp"

namespace hive::workflow_engine {

namespace json = boost::json;
using plugin_common::stringField;

namespace {

json::object bodyOf(const store::Document& document) {
  std::error_code ec;
  json::value body = json::parse(document.body, ec);
  return ec || !body.is_object() ? json::object{} : body.get_object();
}

// The Idempotency-Key that claims a fire: its run's, or its task's.
std::string fireKey(const std::string& id, std::int64_t fireMs) {
  return "schedule:" + id + ":" + std::to_string(fireMs);
}

std::int64_t integer(const json::object& object, std::string_view key, std::int64_t fallback) {
  const json::value* value = object.if_contains(key);
  return value && value->is_int64() ? value->get_int64() : fallback;
}

// Whether a caller of `tenant` (nullopt: every tenant) sees a schedule.
bool sees(const std::optional<std::string>& tenant, const json::object& schedule) {
  return !tenant || stringField(schedule, "tenant") == *tenant;
}

}  // namespace

Scheduler::Scheduler(Engine& engine, ServiceHandle<store::Store> store, const plugin_common::Clock& clock,
                     ScheduleOptions options)
    : engine_(engine), store_(std::move(store)), clock_(clock), options_(options) {}

Status Scheduler::open() {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  return store->declareCollection({kSchedules, {"workflow", "tenant"}});
}

Result<json::object> Scheduler::createOf(const std::string& tenant, const std::string& workflow,
                                         const json::value& body, std::vector<http::FieldError>& errors) {
  auto spec = parseSchedule(body, "", errors);
  if (!spec) return invalidArgument("the schedule is not valid");
  auto definition = engine_.parsed(tenant, workflow, spec->version);
  if (!definition.ok()) return definition.status();
  // The params must suit the workflow now; a later version may still refuse
  // them, which the schedule then shows as last_error at each fire.
  if (auto bound = bindParams(**definition, spec->params, errors); !bound.ok()) return bound.status();
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  const std::int64_t now = clock_.nowMs();
  std::string id = plugin_common::timeOrderedId('s');
  store::Document document =
      scheduleDocument(id, tenant, workflow, *spec, "api", now, nextFire(*spec, now, now));
  auto put = store->put(kSchedules, document, store::kMustNotExist);
  if (!put.ok()) return put.status();
  return bodyOf(document);
}

Result<json::object> Scheduler::create(const std::string& tenant, const json::value& body,
                                       std::vector<http::FieldError>& errors) {
  if (!body.is_object()) {
    errors.push_back({"", "a schedule is an object with workflow or task, and cron or every"});
    return invalidArgument("the schedule is not valid");
  }
  json::object fields = body.get_object();
  const json::value* workflow = fields.if_contains("workflow");
  const json::value* task = fields.if_contains("task");
  if ((workflow != nullptr) == (task != nullptr)) {
    errors.push_back(
        {"", "give one of workflow (a workflow's name: start a run) and task (a task to submit)"});
    return invalidArgument("the schedule is not valid");
  }
  if (workflow != nullptr) {
    if (!workflow->is_string() || workflow->get_string().empty()) {
      errors.push_back({"/workflow", "must be a workflow's name"});
      return invalidArgument("the schedule is not valid");
    }
    const std::string name(workflow->get_string());
    fields.erase("workflow");
    return createOf(tenant, name, fields, errors);
  }
  TaskTemplate parsed;
  const bool taskOk = parseTaskTemplate(*task, "/task", parsed, errors);
  const json::object given = task->is_object() ? task->get_object() : json::object{};
  fields.erase("task");
  for (const char* key : {"params", "version"})
    if (fields.contains(key)) {
      errors.push_back({std::string("/") + key, "a task schedule has none: its task is submitted as given"});
      fields.erase(key);
    }
  auto spec = parseSchedule(fields, "", errors);
  if (!spec || !taskOk || !errors.empty()) return invalidArgument("the schedule is not valid");
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  const std::int64_t now = clock_.nowMs();
  std::string id = plugin_common::timeOrderedId('s');
  store::Document document =
      scheduleDocument(id, tenant, "", *spec, "api", now, nextFire(*spec, now, now), &given);
  auto put = store->put(kSchedules, document, store::kMustNotExist);
  if (!put.ok()) return put.status();
  return bodyOf(document);
}

Result<ListPage> Scheduler::list(const std::optional<std::string>& tenant, const std::string& workflow,
                                 std::size_t limit, const std::string& cursor) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  // As Engine::runs: the default tenant's are read unfiltered, and a page may hold fewer than `limit`.
  store::ListQuery query{.collection = kSchedules, .equals = {}, .limit = limit, .cursor = cursor};
  if (!workflow.empty())
    query.equals = {{"workflow", workflowKey(tenant.value_or(""), workflow)}};
  else if (tenant && !tenant->empty())
    query.equals = {{"tenant", *tenant}};
  auto page = store->list(query);
  if (!page.ok()) return page.status();
  ListPage out;
  for (const auto& document : page->items)
    if (json::object body = bodyOf(document); sees(tenant, body)) out.items.push_back(std::move(body));
  out.nextCursor = page->nextCursor;
  return out;
}

Result<json::object> Scheduler::get(const std::optional<std::string>& tenant, const std::string& id) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  auto found = store->get(kSchedules, id);
  if (!found.ok()) {
    if (found.status().code() == StatusCode::kNotFound) return notFound("no schedule '" + id + "'");
    return found.status();
  }
  json::object body = bodyOf(*found);
  if (!sees(tenant, body)) return notFound("no schedule '" + id + "'");
  return body;
}

Status Scheduler::remove(const std::optional<std::string>& tenant, const std::string& workflow,
                         const std::string& id) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  auto found = store->get(kSchedules, id);
  if (!found.ok() || !sees(tenant, bodyOf(*found)) ||
      (!workflow.empty() && bodyOf(*found)["workflow"] != json::value(workflow))) {
    if (found.ok() || found.status().code() == StatusCode::kNotFound)
      return notFound(workflow.empty() ? "no schedule '" + id + "'"
                                       : "no schedule '" + id + "' of workflow '" + workflow + "'");
    return found.status();
  }
  if (bodyOf(*found)["source"] == "definition")
    return failedPrecondition("schedule '" + id +
                              "' is declared by the workflow's definition: apply a version without it");
  return store->remove(kSchedules, id, found->version);
}

std::size_t Scheduler::submitting() const {
  std::lock_guard lock(answers_->mutex);
  return answers_->submitting.size();
}

std::size_t Scheduler::tick() {
  auto store = store_.lease();
  if (!store) return 0;
  const std::int64_t now = clock_.nowMs();
  {
    // Answers no schedule took (another node noted the fire first): dropped after a while.
    std::lock_guard lock(answers_->mutex);
    const auto old = std::chrono::steady_clock::now() - std::chrono::minutes(10);
    std::erase_if(answers_->answers, [&](const auto& entry) { return entry.second.at < old; });
  }
  std::size_t started = 0;
  std::string cursor;
  do {
    auto page = store->list({.collection = kSchedules, .equals = {}, .limit = 200, .cursor = cursor});
    if (!page.ok()) {
      engine_.log().warn("schedules not read: " + page.status().message());
      return started;
    }
    for (const store::Document& document : page->items) {
      json::object body = bodyOf(document);
      std::vector<http::FieldError> errors;
      json::object fields;
      for (const char* key : {"cron", "every_ms", "time_zone", "params", "version", "catch_up"})
        if (const json::value* value = body.if_contains(key)) fields[key] = *value;
      auto spec = parseSchedule(fields, "", errors);
      if (!spec) {
        engine_.log().warn("schedule " + document.id + " is not valid: " + errors.front().message);
        continue;
      }
      const bool ofTask = body.contains("task");
      const std::int64_t anchor = integer(body, "anchor_ms", now);
      const json::value* stored = body.if_contains("next_fire_ms");
      const std::optional<std::int64_t> due =
          stored && stored->is_int64() ? std::optional(stored->get_int64()) : std::nullopt;
      json::object updated = body;
      bool changed = false;
      if (!due) {
        // Declared by a definition: its first fire counts from the first tick that sees it.
        auto next = nextFire(*spec, now, now);
        updated["anchor_ms"] = now;
        updated["next_fire_ms"] = next ? json::value(*next) : json::value(nullptr);
        changed = true;
      } else if (*due <= now) {
        FirePlan plan = planFires(*spec, anchor, *due, now, options_.grace.count(), options_.maxFiresPerTick);
        json::array pending;
        if (const json::value* noted = updated.if_contains("pending_fires"); noted && noted->is_array())
          pending = noted->get_array();
        for (std::int64_t fireMs : plan.fires) {
          updated["last_fire_ms"] = fireMs;
          if (!ofTask) {
            if (startRun(document.id, *spec, fireMs, updated)) ++started;
          } else if (pending.size() < kMaxPendingFires) {
            pending.push_back(fireMs);
          } else {
            updated["last_error"] = "fire " + std::to_string(fireMs) +
                                    " dropped: " + std::to_string(kMaxPendingFires) +
                                    " fires wait for task_manager already";
          }
        }
        if (ofTask) updated["pending_fires"] = std::move(pending);
        if (plan.missed) updated["missed_at_ms"] = *due;
        updated["next_fire_ms"] = plan.nextFireMs > 0 ? json::value(plan.nextFireMs) : json::value(nullptr);
        changed = true;
      }
      if (ofTask && settleTasks(document.id, updated, started)) changed = true;
      if (!changed) continue;
      store::Document next = document;
      next.body = json::serialize(updated);
      // Another node (or this one, before a restart) moved it first: its fires
      // were claimed by their runs' and tasks' keys, so nothing is lost or
      // doubled here.
      if (auto put = store->put(kSchedules, std::move(next), document.version);
          !put.ok() && put.status().code() != StatusCode::kAborted)
        engine_.log().warn("schedule " + document.id + " not moved on: " + put.status().message());
    }
    cursor = page->nextCursor;
  } while (!cursor.empty());
  return started;
}

bool Scheduler::startRun(const std::string& id, const ScheduleSpec& spec, std::int64_t fireMs,
                         json::object& updated) {
  const std::string workflow = stringField(updated, "workflow");
  std::vector<http::FieldError> refused;
  auto run = engine_.startRun(stringField(updated, "tenant"), workflow, spec.version, spec.params,
                              fireKey(id, fireMs), refused);
  if (run.ok()) {
    updated["last_run"] = run->run["id"];
    updated.erase("last_error");
    return !run->replayed;
  }
  std::string why = run.status().message();
  for (const auto& error : refused) why += "; " + error.field + ": " + error.message;
  updated["last_error"] = why;
  engine_.log().warn("schedule " + id + " of workflow " + workflow + ": " + why);
  return false;
}

bool Scheduler::settleTasks(const std::string& id, json::object& updated, std::size_t& accepted) {
  const json::value* noted = updated.if_contains("pending_fires");
  if (noted == nullptr || !noted->is_array() || noted->get_array().empty()) {
    if (noted == nullptr) return false;
    updated.erase("pending_fires");
    return true;
  }
  const json::array pending = noted->get_array();
  TaskTemplate task;
  std::vector<http::FieldError> errors;
  if (!parseTaskTemplate(updated["task"], "/task", task, errors)) {
    updated["last_error"] = "its task is not valid: " + errors.front().field + ": " + errors.front().message;
    updated.erase("pending_fires");
    return true;
  }
  bool changed = false;
  json::array still;
  std::vector<std::pair<std::int64_t, std::string>> submit;  // fire, key
  {
    std::lock_guard lock(answers_->mutex);
    for (const json::value& fire : pending) {
      if (!fire.is_int64()) {
        changed = true;
        continue;
      }
      std::string key = fireKey(id, fire.get_int64());
      auto answer = answers_->answers.find(key);
      if (answer == answers_->answers.end()) {
        still.push_back(fire);
        if (answers_->submitting.insert(key).second) submit.emplace_back(fire.get_int64(), std::move(key));
        continue;
      }
      Result<std::string> task = std::move(answer->second.task);
      answers_->answers.erase(answer);
      if (task.ok()) {
        updated["last_task"] = *task;
        updated.erase("last_error");
        ++accepted;
        changed = true;
      } else if (task.status().code() == StatusCode::kInvalidArgument) {
        updated["last_error"] = "fire " + std::to_string(fire.get_int64()) + ": " + task.status().message();
        engine_.log().warn("task schedule " + id + ": " + task.status().message());
        changed = true;
      } else {
        // task_manager could not take it now: again, with the same key.
        engine_.log().warn("task schedule " + id + ": fire " + std::to_string(fire.get_int64()) +
                           " not submitted yet: " + task.status().message());
        still.push_back(fire);
        answers_->submitting.insert(key);
        submit.emplace_back(fire.get_int64(), std::move(key));
      }
    }
  }
  for (const auto& [fire, key] : submit) {
    const std::string body =
        json::serialize(submissionBody(task, "schedule " + id + " fire " + std::to_string(fire)));
    bool posted = engine_.submitTask(
        stringField(updated, "tenant"), key, body, [answers = answers_, key](Result<std::string> answer) {
          std::lock_guard lock(answers->mutex);
          answers->submitting.erase(key);
          answers->answers.insert_or_assign(
              key, Answers::Answer{std::move(answer), std::chrono::steady_clock::now()});
        });
    if (!posted) {
      std::lock_guard lock(answers_->mutex);
      answers_->submitting.erase(key);
    }
  }
  if (changed) {
    if (still.empty())
      updated.erase("pending_fires");
    else
      updated["pending_fires"] = std::move(still);
  }
  return changed;
}

}  // namespace hive::workflow_engine
