#include "schedule.hpp"

#include "tenant_keys.hpp"

namespace hive::workflow_engine {

namespace json = boost::json;

json::object ScheduleSpec::toJson() const {
  json::object out;
  if (cron)
    out["cron"] = cron->text();
  else
    out["every_ms"] = every.count();
  out["time_zone"] = timeZone;
  out["params"] = params;
  if (version > 0) out["version"] = version;
  out["catch_up"] = catchUp == CatchUp::kOnce ? "once" : "skip";
  return out;
}

std::optional<ScheduleSpec> parseSchedule(const json::value& value, const std::string& at,
                                          std::vector<http::FieldError>& errors) {
  if (!value.is_object()) {
    errors.push_back({at, "a schedule is an object with cron or every"});
    return std::nullopt;
  }
  const std::size_t before = errors.size();
  const json::object& object = value.get_object();
  for (const auto& [key, item] : object)
    if (key != "cron" && key != "every" && key != "every_ms" && key != "time_zone" && key != "params" &&
        key != "version" && key != "catch_up")
      errors.push_back({at + "/" + std::string(key), "unknown field"});
  ScheduleSpec spec;
  const json::value* cron = object.if_contains("cron");
  const json::value* every = object.if_contains("every");
  const json::value* everyMs = object.if_contains("every_ms");  // as toJson() writes it back
  if ((cron != nullptr) + (every != nullptr) + (everyMs != nullptr) != 1) {
    errors.push_back({at, "give one of cron (\"*/5 * * * *\") and every (\"30s\")"});
  } else if (cron != nullptr) {
    auto parsed = cron->is_string() ? CronExpression::parse(cron->get_string())
                                    : Result<CronExpression>(invalidArgument("must be a string"));
    if (!parsed.ok())
      errors.push_back({at + "/cron", parsed.status().message()});
    else if (!parsed->next(0, *TimeZone::fixed(0)))
      errors.push_back({at + "/cron", "'" + parsed->text() + "' never fires (no such day)"});
    else
      spec.cron = std::move(parsed).value();
  } else if (every != nullptr) {
    auto parsed = every->is_string() ? parseInterval(every->get_string())
                                     : Result<std::chrono::milliseconds>(invalidArgument("must be a string"));
    if (!parsed.ok())
      errors.push_back({at + "/every", parsed.status().message()});
    else
      spec.every = *parsed;
  } else if (!everyMs->is_int64() || everyMs->get_int64() < 1000 ||
             everyMs->get_int64() > 366LL * 86'400'000) {
    errors.push_back({at + "/every_ms", "must be milliseconds from 1000 to 366 days"});
  } else {
    spec.every = std::chrono::milliseconds(everyMs->get_int64());
  }
  if (const json::value* zone = object.if_contains("time_zone")) {
    auto loaded = zone->is_string()
                      ? TimeZone::load(zone->get_string())
                      : Result<std::shared_ptr<const TimeZone>>(invalidArgument("must be a string"));
    if (!loaded.ok()) {
      errors.push_back({at + "/time_zone", loaded.status().message()});
    } else {
      spec.timeZone = std::string(zone->get_string());
      spec.zone = *loaded;
    }
  }
  if (const json::value* params = object.if_contains("params")) {
    if (!params->is_object())
      errors.push_back({at + "/params", "must be an object of parameter name to value"});
    else
      spec.params = params->get_object();
  }
  if (const json::value* version = object.if_contains("version")) {
    if (!version->is_int64() || version->get_int64() < 1)
      errors.push_back({at + "/version", "must be a positive integer (absent: the latest)"});
    else
      spec.version = version->get_int64();
  }
  if (const json::value* catchUp = object.if_contains("catch_up")) {
    if (catchUp->is_string() && catchUp->get_string() == "skip")
      spec.catchUp = CatchUp::kSkip;
    else if (catchUp->is_string() && catchUp->get_string() == "once")
      spec.catchUp = CatchUp::kOnce;
    else
      errors.push_back({at + "/catch_up", "must be skip or once"});
  }
  if (errors.size() != before) return std::nullopt;
  return spec;
}

std::optional<std::int64_t> nextFire(const ScheduleSpec& spec, std::int64_t anchorMs, std::int64_t afterMs) {
  if (spec.cron) return spec.cron->next(afterMs, *spec.zone);
  const std::int64_t every = spec.every.count();
  if (every <= 0) return std::nullopt;
  if (afterMs < anchorMs) return anchorMs + every;
  return anchorMs + ((afterMs - anchorMs) / every + 1) * every;
}

FirePlan planFires(const ScheduleSpec& spec, std::int64_t anchorMs, std::int64_t dueMs, std::int64_t nowMs,
                   std::int64_t graceMs, std::size_t maxFires) {
  FirePlan plan;
  const std::int64_t lateBefore = nowMs - graceMs;
  std::optional<std::int64_t> fire = dueMs;
  if (dueMs < lateBefore) {
    plan.missed = true;
    if (spec.catchUp == CatchUp::kOnce) plan.fires.push_back(dueMs);
    fire = nextFire(spec, anchorMs, lateBefore - 1);
  }
  while (fire && *fire <= nowMs && plan.fires.size() < maxFires) {
    plan.fires.push_back(*fire);
    fire = nextFire(spec, anchorMs, *fire);
  }
  auto after = nextFire(spec, anchorMs, nowMs);
  plan.nextFireMs = after.value_or(0);
  return plan;
}

store::Document scheduleDocument(const std::string& id, const std::string& tenant,
                                 const std::string& workflow, const ScheduleSpec& spec, const char* source,
                                 std::int64_t createdAtMs, std::optional<std::int64_t> nextFireMs,
                                 const json::object* task) {
  json::object body = spec.toJson();
  body["id"] = id;
  if (!tenant.empty()) body["tenant"] = tenant;
  if (task != nullptr) {
    body.erase("params");
    body.erase("version");
    body["task"] = *task;
    body["last_task"] = nullptr;
  } else {
    body["workflow"] = workflow;
    body["last_run"] = nullptr;
  }
  body["source"] = source;
  body["anchor_ms"] = createdAtMs;
  body["next_fire_ms"] = nextFireMs ? json::value(*nextFireMs) : json::value(nullptr);
  body["last_fire_ms"] = nullptr;
  body["created_at_ms"] = createdAtMs;
  store::Document document;
  document.id = id;
  document.body = json::serialize(body);
  document.index["workflow"] = workflow.empty() ? std::string() : workflowKey(tenant, workflow);
  document.index["tenant"] = tenant;
  return document;
}

}  // namespace hive::workflow_engine
