#include "scheduler.hpp"

#include <optional>

#include "plugin_common/clock_ids.hpp"

namespace hive::workflow_engine {

namespace json = boost::json;

namespace {

json::object bodyOf(const store::Document& document) {
  std::error_code ec;
  json::value body = json::parse(document.body, ec);
  return ec || !body.is_object() ? json::object{} : body.get_object();
}

std::int64_t integer(const json::object& object, std::string_view key, std::int64_t fallback) {
  const json::value* value = object.if_contains(key);
  return value && value->is_int64() ? value->get_int64() : fallback;
}

}  // namespace

Scheduler::Scheduler(Engine& engine, ServiceHandle<store::Store> store, const plugin_common::Clock& clock,
                     ScheduleOptions options)
    : engine_(engine), store_(std::move(store)), clock_(clock), options_(options) {}

Status Scheduler::open() {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  return store->declareCollection({kSchedules, {"workflow"}});
}

Result<json::object> Scheduler::create(const std::string& workflow, const json::value& body,
                                       std::vector<http::FieldError>& errors) {
  auto spec = parseSchedule(body, "", errors);
  if (!spec) return invalidArgument("the schedule is not valid");
  auto definition = engine_.parsed(workflow, spec->version);
  if (!definition.ok()) return definition.status();
  // The params must suit the workflow now; a later version may still refuse
  // them, which the schedule then shows as last_error at each fire.
  if (auto bound = bindParams(**definition, spec->params, errors); !bound.ok()) return bound.status();
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  const std::int64_t now = clock_.nowMs();
  std::string id = plugin_common::timeOrderedId('s');
  store::Document document = scheduleDocument(id, workflow, *spec, "api", now, nextFire(*spec, now, now));
  auto put = store->put(kSchedules, document, store::kMustNotExist);
  if (!put.ok()) return put.status();
  return bodyOf(document);
}

Result<ListPage> Scheduler::list(const std::string& workflow, std::size_t limit, const std::string& cursor) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  auto page = store->list(
      {.collection = kSchedules, .equals = {{"workflow", workflow}}, .limit = limit, .cursor = cursor});
  if (!page.ok()) return page.status();
  ListPage out;
  for (const auto& document : page->items) out.items.push_back(bodyOf(document));
  out.nextCursor = page->nextCursor;
  return out;
}

Status Scheduler::remove(const std::string& workflow, const std::string& id) {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  auto found = store->get(kSchedules, id);
  if (!found.ok() || bodyOf(*found)["workflow"] != json::value(workflow)) {
    if (found.ok() || found.status().code() == StatusCode::kNotFound)
      return notFound("no schedule '" + id + "' of workflow '" + workflow + "'");
    return found.status();
  }
  if (bodyOf(*found)["source"] == "definition")
    return failedPrecondition("schedule '" + id +
                              "' is declared by the workflow's definition: apply a version without it");
  return store->remove(kSchedules, id, found->version);
}

std::size_t Scheduler::tick() {
  auto store = store_.lease();
  if (!store) return 0;
  const std::int64_t now = clock_.nowMs();
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
      const std::int64_t anchor = integer(body, "anchor_ms", now);
      const json::value* stored = body.if_contains("next_fire_ms");
      const std::optional<std::int64_t> due =
          stored && stored->is_int64() ? std::optional(stored->get_int64()) : std::nullopt;
      const std::string workflow =
          body["workflow"].is_string() ? std::string(body["workflow"].get_string()) : "";
      json::object updated = body;
      if (!due) {
        // Declared by a definition: its first fire counts from the first tick that sees it.
        auto next = nextFire(*spec, now, now);
        updated["anchor_ms"] = now;
        updated["next_fire_ms"] = next ? json::value(*next) : json::value(nullptr);
      } else {
        if (*due > now) continue;
        FirePlan plan = planFires(*spec, anchor, *due, now, options_.grace.count(), options_.maxFiresPerTick);
        for (std::int64_t fire : plan.fires) {
          std::vector<http::FieldError> refused;
          auto run = engine_.startRun(workflow, spec->version, spec->params,
                                      "schedule:" + document.id + ":" + std::to_string(fire), refused);
          updated["last_fire_ms"] = fire;
          if (run.ok()) {
            updated["last_run"] = run->run["id"];
            updated.erase("last_error");
            if (!run->replayed) ++started;
          } else {
            std::string why = run.status().message();
            for (const auto& error : refused) why += "; " + error.field + ": " + error.message;
            updated["last_error"] = why;
            engine_.log().warn("schedule " + document.id + " of workflow " + workflow + ": " + why);
          }
        }
        if (plan.missed) updated["missed_at_ms"] = *due;
        updated["next_fire_ms"] = plan.nextFireMs > 0 ? json::value(plan.nextFireMs) : json::value(nullptr);
      }
      store::Document next = document;
      next.body = json::serialize(updated);
      // Another node (or this one, before a restart) moved it first: its fires
      // were claimed by their runs' keys, so nothing is lost or doubled here.
      if (auto put = store->put(kSchedules, std::move(next), document.version);
          !put.ok() && put.status().code() != StatusCode::kAborted)
        engine_.log().warn("schedule " + document.id + " not moved on: " + put.status().message());
    }
    cursor = page->nextCursor;
  } while (!cursor.empty());
  return started;
}

}  // namespace hive::workflow_engine
