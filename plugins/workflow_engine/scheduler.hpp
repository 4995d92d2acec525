// Starts workflow runs, or submits plain tasks, when their schedules fire.
//
// A schedule is a document in the store (collection workflow_schedules) with
// its spec and `next_fire_ms`. Each node ticks (every `schedule_tick`), lists
// the schedules, and for each one due plans its fires (schedule.hpp:
// planFires). Each fire is claimed in the store by the run it starts: the run
// is started with the Idempotency-Key `schedule:<id>:<fire time>`, which the
// engine stores with the run in one transaction, so that of two nodes (or a
// node and itself after a restart) firing the same time, one creates the run
// and the other finds it. A task schedule's fire is claimed the same way by
// the task it submits: task_manager stores that key with the task. Then
// `next_fire_ms` moves on, written only if the document did not change since
// it was read.
//
// Time comes from the injected clock, so tests move it by hand.
//
// Threading: every method is blocking (the store); call them on the blocking
// executor. Nothing is held between calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
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

  // A schedule is the tenant's that created it: it starts that tenant's
  // workflow, and its runs and tasks are that tenant's.
  // POST /api/v2/workflows/{name}/schedules: the workflow must exist and the
  // params must suit it (its latest version, or `version`).
  Result<boost::json::object> createOf(const std::string& tenant, const std::string& workflow,
                                       const boost::json::value& body, std::vector<http::FieldError>& errors);
  // POST /api/v2/schedules: the body names a `workflow` (as above) or a
  // `task` to submit at each fire (task_template.hpp).
  Result<boost::json::object> create(const std::string& tenant, const boost::json::value& body,
                                     std::vector<http::FieldError>& errors);
  // `workflow` empty: every schedule, task schedules included. `tenant`
  // nullopt: every tenant's.
  Result<ListPage> list(const std::optional<std::string>& tenant, const std::string& workflow,
                        std::size_t limit, const std::string& cursor);
  // Another tenant's is not found.
  Result<boost::json::object> get(const std::optional<std::string>& tenant, const std::string& id);
  // `workflow` empty: whichever the schedule starts.
  Status remove(const std::optional<std::string>& tenant, const std::string& workflow, const std::string& id);

  // Fires what is due; returns how many runs it started (replays excluded)
  // and how many task fires it saw accepted (a fire two nodes submitted may
  // be counted by both: task_manager answers both with the one task).
  //
  // A task schedule's fire is first noted in the schedule (`pending_fires`),
  // then submitted without waiting; the next tick notes the answer
  // (`last_task`, `last_error`) or submits again with the same key when
  // task_manager could not take it. So a fire survives a restart or an
  // unreachable task_manager, and a tick never waits for task_manager.
  std::size_t tick();
  // Task submissions of this node awaiting task_manager's answer.
  std::size_t submitting() const;

 private:
  Engine& engine_;
  ServiceHandle<store::Store> store_;
  const plugin_common::Clock& clock_;
  ScheduleOptions options_;

  // One fire of a workflow's schedule: starts its run and notes the outcome
  // in `updated`. True when a new run started.
  bool startRun(const std::string& id, const ScheduleSpec& spec, std::int64_t fireMs,
                boost::json::object& updated);
  // A task schedule's pending fires: notes the answers come since the last
  // tick, submits the others. Counts the accepted ones into `accepted`; true
  // when `updated` changed.
  bool settleTasks(const std::string& id, boost::json::object& updated, std::size_t& accepted);

  // What the callbacks of task submissions leave for the next tick, shared
  // with them.
  struct Answers {
    struct Answer {
      Result<std::string> task;
      std::chrono::steady_clock::time_point at;
    };
    mutable std::mutex mutex;
    std::set<std::string> submitting;       // keys awaiting their answer
    std::map<std::string, Answer> answers;  // key → answer, until a tick takes it
  };
  std::shared_ptr<Answers> answers_ = std::make_shared<Answers>();
};

}  // namespace hive::workflow_engine
