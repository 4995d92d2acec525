// The context_manager plugin: wires Contexts to the store, the embedder it
// provides (hive.embedder/1), its routes, the agents' context.* frames and
// Compressor, and runs two timers:
// the index saver and the budget check.
#pragma once

#include <atomic>
#include <memory>

#include "compressor.hpp"
#include "config.hpp"
#include "context_frames.hpp"
#include "contexts.hpp"
#include "hive/plugin.hpp"
#include "jobs.hpp"

namespace hive::context_manager {

class ContextManagerPlugin final : public Plugin {
 public:
  explicit ContextManagerPlugin(PluginContext& context);

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override;
  Status start() override;
  void stop() override;
  void beginDrain() override;
  bool drained() const override;
  Status health() override;

 private:
  // Posts `job` unless the previous one of its kind is still queued or running.
  void once(std::atomic<bool>& running, std::function<void()> job);

  PluginContext& context_;
  Options options_;
  std::unique_ptr<Jobs> jobs_;
  std::shared_ptr<Contexts> contexts_;
  std::shared_ptr<Compressor> compressor_;
  std::unique_ptr<ContextFrames> frames_;
  std::unique_ptr<Timer> saver_;
  std::unique_ptr<Timer> budget_;
  std::atomic<bool> saving_{false};
  std::atomic<bool> checking_{false};
};

}  // namespace hive::context_manager
