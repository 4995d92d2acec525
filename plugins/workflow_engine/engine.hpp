// The durable driver of workflow runs.
//
// A run is one document in the store (collection workflow_runs). Each time the
// engine learns something about a run — a task event from the bus, a task read
// by the reconciler, the answer to a submission — it loads the run, applies
// what it learnt (run.hpp: advance), and writes the run back in one unit of
// work together with one entry per transition in the event log `workflows`,
// with the version it read (a concurrent writer makes it read again). Only
// then are the transitions published on the bus, and the steps that became
// ready submitted as tasks.
//
// Exactly once: a step's task is submitted with an Idempotency-Key made of the
// run and step (run.hpp: idempotencyKey), so a submission repeated after a
// crash, before the task id was recorded, finds the task the first one created.
// A step's outcome is accepted once: a step only moves forward, and a write
// based on a stale read is refused by the store.
//
// Nothing is lost when an event is: the reconciler (reconcile(), on a timer
// and at start) lists the running runs, reads each running step's task, and
// advances the run with what it finds.
//
// Threading: every store call and every advance runs on the blocking executor;
// one advance at a time per run on this node. Public methods marked
// "blocking" must be called from the blocking executor.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "definition.hpp"
#include "hive/context.hpp"
#include "hive/services.hpp"
#include "hive/services/store.hpp"
#include "retention.hpp"
#include "run.hpp"
#include "schedule.hpp"
#include "task_gateway.hpp"

namespace hive::workflow_engine {

struct EngineOptions {
  Limits limits;
  std::chrono::milliseconds reconcilePeriod{5000};
  ScheduleOptions schedules;
  RetentionOptions retention;
};

// Work posted or waiting for an answer: counted so that stop() and drained()
// know when none of this plugin's code can still run.
class InFlight {
 public:
  bool enter();
  void leave();
  void refuse();
  bool idle() const;
  void stopAndWait();

 private:
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::size_t count_ = 0;
  bool refusing_ = false;
};

struct ListPage {
  std::vector<boost::json::object> items;
  std::string nextCursor;
};

// Publishes one event on a topic; may fail (no bus): the event log keeps it.
using Publisher = std::function<void(const std::string& topic, const std::string& payload)>;

class Engine {
 public:
  Engine(PluginContext& context, ServiceHandle<store::Store> store, std::unique_ptr<TaskGateway> gateway,
         Publisher publish, EngineOptions options);
  ~Engine();

  Status open();  // blocking: declares the collections
  void beginDrain() { work_.refuse(); }
  bool idle() const { return work_.idle(); }
  void close() { work_.stopAndWait(); }
  const EngineOptions& options() const { return options_; }
  Logger& log() { return context_.log(); }
  ServiceRegistry& services() { return context_.services(); }

  // Runs `job` on the blocking executor, counted; false when refusing work.
  bool background(std::function<void()> job);

  // ---- definitions (blocking) ----
  struct Applied {
    boost::json::object record;
    bool created = false;  // false: identical to the latest version, which is returned
  };
  // Definitions, runs and schedules belong to a tenant (hive.tenancy/1): a
  // workflow's name is its tenant's, and a run is started, and its tasks
  // submitted, as the tenant of the caller that started it.
  Result<Applied> apply(const std::string& tenant, const boost::json::value& document,
                        std::vector<http::FieldError>& errors);
  // version 0: the latest.
  Result<boost::json::object> definition(const std::string& tenant, const std::string& name,
                                         std::int64_t version);
  // `tenant` nullopt: every tenant's.
  Result<ListPage> definitions(const std::optional<std::string>& tenant, std::size_t limit,
                               const std::string& cursor);
  // The parsed definition, version 0: the latest; kNotFound names what is missing.
  Result<std::shared_ptr<const Definition>> parsed(const std::string& tenant, const std::string& name,
                                                   std::int64_t version);

  // ---- runs (blocking) ----
  struct Started {
    boost::json::object run;
    bool replayed = false;  // the Idempotency-Key named a run started before
  };
  // `parent`: the run and step of a sub-workflow step that starts this run.
  struct Parent {
    std::string run;
    std::string step;
  };
  Result<Started> startRun(const std::string& tenant, const std::string& workflow, std::int64_t version,
                           const boost::json::value& params, const std::string& idempotencyKey,
                           std::vector<http::FieldError>& errors, const Parent& parent = {});
  Result<boost::json::object> run(const std::string& id);
  // `tenant` nullopt: every tenant's runs; `workflow` a name of that tenant (or of the default one).
  Result<ListPage> runs(const std::optional<std::string>& tenant, const std::string& workflow,
                        const std::string& status, std::size_t limit, const std::string& cursor);
  Result<boost::json::object> cancelRun(const std::string& id);
  // run.hpp: retry, pause, resume; then the run is advanced.
  Result<boost::json::object> retryRun(const std::string& id);
  Result<boost::json::object> pauseRun(const std::string& id);
  Result<boost::json::object> resumeRun(const std::string& id);
  // A person approves or rejects a waiting approval step.
  Result<boost::json::object> decideApproval(const std::string& id, const std::string& step,
                                             Decision decision, const std::string& by,
                                             const std::string& comment);

  // ---- plain tasks ----
  // Submits a task (the body of POST /api/v2/tasks); `done` gets task_manager's
  // answer (task_gateway.hpp), on any thread. False when the engine is
  // stopping: `done` is not called.
  bool submitTask(const std::string& tenant, const std::string& idempotencyKey, const std::string& body,
                  TaskGateway::Submitted done);

  // ---- driving ----
  // A task event (docs/events.md) from the bus; any thread, returns quickly.
  void onTaskEvent(std::string_view payload);
  // Lists the running and paused runs and reads their running tasks (blocking).
  void reconcile();
  // Queues an advance of the run.
  void schedule(const std::string& runId);

 private:
  struct Active {
    bool queued = false;
    bool running = false;
    bool again = false;
    Learnt inbox;
    std::set<std::string> submitting;  // steps whose submission awaits its answer
    std::set<std::string> tasks;       // task ids of its running steps
  };

  // Loads the run, applies `change`, writes it back with its transitions;
  // again when another writer came first.
  Result<Run> update(const std::string& id, const std::function<Status(Run&, std::vector<Change>&)>& change,
                     std::vector<Change>& changes);
  // `key`: workflowKey(tenant, name).
  Result<std::shared_ptr<const Definition>> loadDefinition(store::Store& store, const std::string& key,
                                                           std::int64_t version);
  void advanceJob(const std::string& runId);
  // A run whose document the store refuses (too large): failed, its running
  // tasks cancelled, its items' results dropped so that the failure is kept.
  void failOutgrown(const std::string& id, const std::string& why);
  // Asks task_manager to cancel the tasks of a run that ended `runOutcome`.
  void cancelTasks(const std::string& tenant, const std::vector<std::string>& tasks,
                   const std::string& runOutcome);
  // Submits the tasks of the steps and map items `progress` made ready (not
  // already being submitted); sub-workflows are started after the commit.
  void submitReady(const std::string& runId, const Run& run, const Definition& definition,
                   const Progress& progress);
  void submitStep(const std::string& tenant, const std::string& runId, const std::string& unit,
                  const std::string& key, const std::string& body);
  void startChild(const std::string& tenant, const std::string& runId, const std::string& step,
                  const std::string& key, const SubWorkflow& workflow, boost::json::object params);
  // A finished sub-workflow run tells the step that started it.
  void notifyParent(const Run& run);
  void readChild(store::Store& store, const std::string& runId, const std::string& childId);
  // Refuses calls to unknown workflows and cycles of calls (by name).
  Status checkCalls(store::Store& store, const std::string& tenant, const Definition& definition,
                    std::vector<http::FieldError>& errors);
  void readTask(const std::string& tenant, const std::string& runId, const std::string& taskId);
  void learn(const std::string& runId, const std::function<void(Active&)>& change);
  void publish(const Run& run, const std::vector<Change>& changes);
  std::string eventBody(const Run& run, const Change& change) const;

  PluginContext& context_;
  ServiceHandle<store::Store> store_;
  std::unique_ptr<TaskGateway> gateway_;
  Publisher publish_;
  EngineOptions options_;
  InFlight work_;

  std::mutex mutex_;
  std::map<std::string, Active> active_;         // runs this node is advancing
  std::map<std::string, std::string> taskRuns_;  // task id → run id, for the bus events
  std::map<std::string, TaskReport> unclaimed_;  // final reports of tasks not (yet) known
  std::deque<std::string> unclaimedOrder_;
  std::map<std::string, std::shared_ptr<const Definition>> definitions_;  // "name@version"
};

}  // namespace hive::workflow_engine
