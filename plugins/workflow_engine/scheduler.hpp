// Starts workflow runs when their schedules fire.
//
// A schedule is a document in the store (collection workflow_schedules) with
// its spec and `next_fire_ms`. Each node ticks (every `schedule_tick`), lists
// the schedules, and for each one due plans its fires (schedule.hpp:
// planFires). Each fire is claimed in the store by the run it starts: the run
// is started with the Idempotency-Key `schedule:<id>:<fire time>`, which the
// engine stores with the run in one transaction, so that of two nodes (or a
// node and itself after a restart) firing the same time, one creates the run
// and the other finds it. Then `next_fire_ms` moves on, written only if the
// document did not change since it was read.
//
// Time comes from the injected clock, so tests move it by hand.
//
// Threading: every method is blocking (the store); call them on the blocking
// executor. Nothing is held between calls.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "engine.hpp"
#include "plugin_common/clock.hpp"
#include "schedule.hpp"

namespace hive::workflow_engine {

class Scheduler {
 public:
  Scheduler(Engine& engine, ServiceHandle<store::Store> store, const plugin_common::Clock& clock,
            ScheduleOptions options);

  Status open();  // declares the collection

  // POST /api/v2/workflows/{name}/schedules: the workflow must exist and the
  // params must suit it (its latest version, or `version`).
  Result<boost::json::object> create(const std::string& workflow, const boost::json::value& body,
                                     std::vector<http::FieldError>& errors);
  Result<ListPage> list(const std::string& workflow, std::size_t limit, const std::string& cursor);
  Status remove(const std::string& workflow, const std::string& id);

  // Fires what is due; returns how many runs it started (replays excluded).
  std::size_t tick();

 private:
  Engine& engine_;
  ServiceHandle<store::Store> store_;
  const plugin_common::Clock& clock_;
  ScheduleOptions options_;
};

}  // namespace hive::workflow_engine
