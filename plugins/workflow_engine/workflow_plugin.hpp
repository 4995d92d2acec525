// The workflow_engine plugin: wires the engine to the store, the bus, task_manager's
// routes and its own routes, and runs the reconciler on a timer.
#pragma once

#include <atomic>
#include <memory>

#include "engine.hpp"
#include "hive/follower.hpp"
#include "hive/plugin.hpp"
#include "hive/services/bus.hpp"
#include "plugin_common/clock.hpp"
#include "scheduler.hpp"

namespace hive::workflow_engine {

class WorkflowEnginePlugin final : public Plugin {
 public:
  explicit WorkflowEnginePlugin(PluginContext& context);

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override;
  Status start() override;
  void stop() override;
  void beginDrain() override;
  bool drained() const override;
  Status health() override;

 private:
  void publish(const std::string& topic, const std::string& payload);

  PluginContext& context_;
  EngineOptions options_;
  std::shared_ptr<Engine> engine_;
  std::shared_ptr<Scheduler> scheduler_;
  std::unique_ptr<RunRetention> retention_;
  const plugin_common::SystemClock clock_;
  // Task events, from whichever bus generation serves now.
  ServiceFollower<bus::Bus> events_;
  std::unique_ptr<Timer> reconciler_;
  std::unique_ptr<Timer> ticker_;
  std::unique_ptr<Timer> sweeper_;
  std::atomic<bool> sweepQueued_{false};
  std::atomic<bool> tickQueued_{false};
  std::atomic<bool> reconcileQueued_{false};
};

}  // namespace hive::workflow_engine
