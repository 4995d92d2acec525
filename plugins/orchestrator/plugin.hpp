// The orchestrator plugin: its lifecycle. The parts are in orchestrator.hpp.
#pragma once

#include <atomic>
#include <memory>

#include "agent_frames.hpp"
#include "clock.hpp"
#include "config.hpp"
#include "hive/plugin.hpp"
#include "succession.hpp"

namespace hive::orchestrator {

class Orchestrator;

class OrchestratorPlugin : public Plugin {
 public:
  // On the system clock.
  explicit OrchestratorPlugin(PluginContext& context) : OrchestratorPlugin(context, systemClock_) {}
  // On `clock`, which outlives the plugin (tests).
  OrchestratorPlugin(PluginContext& context, const Clock& clock);

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override;
  Status start() override;
  void stop() override;
  Status health() override;
  bool drained() const override;

 private:
  SystemClock systemClock_;  // unless another clock was given
  PluginContext& context_;
  const Clock& clock_;
  Options options_;
  // hive.agent_frames/1 consumers' handlers; before the orchestrator, which uses them.
  std::unique_ptr<FrameHandlers> frameHandlers_;
  std::shared_ptr<Orchestrator> orchestrator_;
  std::atomic<bool> sweepQueued_{false};
  std::unique_ptr<Timer> sweeper_;
  // Made in configure(), where hive.generation/1 is first needed. Last: its
  // destructor may call into the orchestrator of an older generation.
  std::unique_ptr<Succession> succession_;
};

}  // namespace hive::orchestrator
