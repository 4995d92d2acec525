#include "workflow_plugin.hpp"

#include "config.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "routes.hpp"
#include "task_gateway.hpp"

namespace hive::workflow_engine {

WorkflowEnginePlugin::WorkflowEnginePlugin(PluginContext& context)
    : context_(context), events_(context.services(), [this](bus::Bus& bus) {
        return bus.subscribe("tasks", [this](const bus::Event& event) {
          if (engine_) engine_->onTaskEvent(event.payload);
        });
      }) {}

void WorkflowEnginePlugin::configure(const ConfigNode& section, Diagnostics& diagnostics) {
  options_ = readConfig(section, diagnostics);
}

Status WorkflowEnginePlugin::start() {
  auto store = HIVE_TRY(context_.services().handle<store::Store>(), "workflow_engine needs hive.store/1");
  engine_ = std::make_shared<Engine>(
      context_, std::move(store),
      std::make_unique<RouteTaskGateway>(context_.services(), context_.pluginName()),
      [this](const std::string& topic, const std::string& payload) { publish(topic, payload); }, options_);
  HIVE_TRY(engine_->open(), "declaring the workflow collections");
  auto schedules = HIVE_TRY(context_.services().handle<store::Store>(), "workflow_engine needs hive.store/1");
  scheduler_ = std::make_shared<Scheduler>(*engine_, std::move(schedules), clock_, options_.schedules);
  HIVE_TRY(scheduler_->open(), "declaring the schedules collection");
  auto swept = HIVE_TRY(context_.services().handle<store::Store>(), "workflow_engine needs hive.store/1");
  retention_ = std::make_unique<RunRetention>(std::move(swept), clock_, context_.log(), options_.retention);
  // Without a bus the runs still advance, at the reconciler's pace.
  if (Status attached = events_.start(); !attached.ok() && attached.code() != StatusCode::kNotFound)
    return attached;
  HIVE_TRY(context_.services().provide<http::RouteProvider>(
      std::make_shared<WorkflowRoutes>(engine_, scheduler_)));
  auto reconcile = [this] {
    if (reconcileQueued_.exchange(true)) return;
    if (!engine_->background([this] {
          engine_->reconcile();
          reconcileQueued_ = false;
        }))
      reconcileQueued_ = false;
  };
  reconcile();  // runs left by a previous process (a crash, a swap) resume now
  reconciler_ = context_.timers().every(options_.reconcilePeriod, reconcile);
  sweeper_ = context_.timers().every(options_.retention.period, [this] {
    if (sweepQueued_.exchange(true)) return;
    if (!engine_->background([this] {
          retention_->pass();
          sweepQueued_ = false;
        }))
      sweepQueued_ = false;
  });
  ticker_ = context_.timers().every(options_.schedules.tick, [this] {
    if (tickQueued_.exchange(true)) return;
    if (!engine_->background([this] {
          scheduler_->tick();
          tickQueued_ = false;
        }))
      tickQueued_ = false;
  });
  context_.log().info("started");
  return okStatus();
}

void WorkflowEnginePlugin::stop() {
  sweeper_.reset();
  ticker_.reset();
  reconciler_.reset();
  events_.stop();
  if (engine_) engine_->close();
}

void WorkflowEnginePlugin::beginDrain() {
  if (engine_) engine_->beginDrain();
}

bool WorkflowEnginePlugin::drained() const { return !engine_ || engine_->idle(); }

Status WorkflowEnginePlugin::health() { return engine_ ? okStatus() : unavailable("not started"); }

void WorkflowEnginePlugin::publish(const std::string& topic, const std::string& payload) {
  auto bus = context_.services().get<bus::Bus>();
  if (!bus.ok()) return;  // the event log `workflows` in the store keeps it
  if (auto id = (*bus)->publish(topic, payload); !id.ok())
    context_.log().warn("workflow event not published on " + topic + ": " + id.status().message());
}

}  // namespace hive::workflow_engine
