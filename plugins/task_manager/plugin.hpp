// task_manager: tasks over REST, stored through hive.store/1, published on
// hive.bus/1, handed to the orchestrator through hive.tasks/1.
#pragma once

#include <atomic>
#include <memory>

#include "clock.hpp"
#include "config.hpp"
#include "hive/plugin.hpp"
#include "service.hpp"

namespace hive::task_manager {

class TaskManagerPlugin : public Plugin {
 public:
  explicit TaskManagerPlugin(PluginContext& context) : context_(context), clock_(system_) {}
  // Tests pass a clock they move by hand; it outlives the plugin.
  TaskManagerPlugin(PluginContext& context, const Clock& clock) : context_(context), clock_(clock) {}

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override;
  Status start() override;
  void stop() override;
  Status health() override { return service_ ? okStatus() : unavailable("not started"); }
  bool drained() const override { return *inFlight_ == 0 && (!service_ || service_->idle()); }

 private:
  PluginContext& context_;
  const SystemClock system_;
  const Clock& clock_;
  Options options_;
  std::shared_ptr<Tasks> service_;
  std::shared_ptr<std::atomic<int>> inFlight_ = std::make_shared<std::atomic<int>>(0);
  std::atomic<bool> sweepQueued_{false};
  std::unique_ptr<Timer> sweeper_;
};

}  // namespace hive::task_manager
