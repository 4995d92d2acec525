// The task_execution_engine plugin: reads the process agents, detects the
// sandbox at start, and provides hive.executor/1.
#pragma once

#include <memory>

#include "config.hpp"
#include "hive/plugin.hpp"
#include "process_runner.hpp"

namespace hive::task_execution_engine {

class ExecutorPlugin final : public Plugin {
 public:
  explicit ExecutorPlugin(PluginContext& context) : context_(context) {}
  ~ExecutorPlugin() override;

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override;
  Status start() override;
  void stop() override;
  void beginDrain() override;
  bool drained() const override;

 private:
  PluginContext& context_;
  Settings settings_;
  std::shared_ptr<ProcessRunnerService> runner_;
};

}  // namespace hive::task_execution_engine
