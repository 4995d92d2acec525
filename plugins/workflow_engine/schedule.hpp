// A schedule: when a workflow starts by itself (a cron expression or an
// interval), with which params, and what happens to fires missed while no
// node was running. Pure: the Scheduler (scheduler.hpp) stores and fires them.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "cron.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"

namespace hive::workflow_engine {

// Fires missed by more than the grace period (Hive was down, or every node
// was busy).
enum class CatchUp {
  kSkip,  // dropped; the next run is at the next fire time
  kOnce,  // one run for all of them, as soon as a node sees them
};

struct ScheduleSpec {
  std::optional<CronExpression> cron;  // one of cron and every
  std::chrono::milliseconds every{0};
  std::string timeZone = "UTC";
  std::shared_ptr<const TimeZone> zone = TimeZone::fixed(0);  // timeZone, loaded
  boost::json::object params;
  std::int64_t version = 0;  // 0: the latest when it fires
  CatchUp catchUp = CatchUp::kSkip;

  // The spec as the API shows it: cron or every, time_zone, params, version, catch_up.
  boost::json::object toJson() const;
};

// Errors go to `errors` under `at` (/cron, /every, ...), all of them at once.
std::optional<ScheduleSpec> parseSchedule(const boost::json::value& value, const std::string& at,
                                          std::vector<http::FieldError>& errors);

// The first fire time strictly after `afterMs`; an interval counts from `anchorMs`.
std::optional<std::int64_t> nextFire(const ScheduleSpec& spec, std::int64_t anchorMs, std::int64_t afterMs);

struct FirePlan {
  std::vector<std::int64_t> fires;  // fire times to start a run for, oldest first
  bool missed = false;              // fires older than the grace period were due
  std::int64_t nextFireMs = 0;      // the first fire time after now
};

// What a node does at `nowMs` with a schedule whose next fire was due at
// `dueMs`: runs for the due fires within `graceMs` of now (at most `maxFires`),
// and with CatchUp::kOnce one more for the missed ones, keyed by `dueMs` (the
// first missed fire, which every node computes the same).
FirePlan planFires(const ScheduleSpec& spec, std::int64_t anchorMs, std::int64_t dueMs, std::int64_t nowMs,
                   std::int64_t graceMs, std::size_t maxFires);

struct ScheduleOptions {
  std::chrono::milliseconds tick{1000};
  std::chrono::milliseconds grace{60'000};  // a fire later than this is missed (catch_up decides)
  std::size_t maxFiresPerTick = 100;        // per schedule and tick
};

// A task schedule's fires noted but not yet taken by task_manager, at most.
constexpr std::size_t kMaxPendingFires = 100;

// Indexed by workflow (workflowKey; "" for a task's) and tenant.
constexpr const char* kSchedules = "workflow_schedules";

// The stored form: the spec's fields and id, workflow, source ("api" or
// "definition"), anchor_ms (intervals count from it), next_fire_ms (null: set
// at the next tick, from that tick's time), last_fire_ms, last_run,
// last_error, created_at_ms. With `task` (a task template, task_template.hpp)
// the schedule submits that task instead of starting a run: it has `task`
// instead of workflow, params and version, and last_task instead of last_run.
// With `tenant` (not the default one) it has `tenant`, and its runs and tasks
// are that tenant's.
store::Document scheduleDocument(const std::string& id, const std::string& tenant,
                                 const std::string& workflow, const ScheduleSpec& spec, const char* source,
                                 std::int64_t createdAtMs, std::optional<std::int64_t> nextFireMs,
                                 const boost::json::object* task = nullptr);

}  // namespace hive::workflow_engine
