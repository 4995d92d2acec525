// The data_processing_engine plugin: the batches, their worker thread, task
// events from the bus (through a follower: it survives swaps of
// communication_engine) as hints to advance, and the routes.
#pragma once

#include <memory>

#include "batches.hpp"
#include "config.hpp"
#include "hive/follower.hpp"
#include "hive/plugin.hpp"
#include "hive/services/bus.hpp"
#include "plugin_common/background_jobs.hpp"

namespace hive::data_processing_engine {

class DataProcessingEnginePlugin final : public Plugin {
 public:
  explicit DataProcessingEnginePlugin(PluginContext& context);
  ~DataProcessingEnginePlugin() override;

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override;
  Status start() override;
  void stop() override;
  void beginDrain() override;
  bool drained() const override;
  Status health() override;

 private:
  bool background(std::function<void()> job) { return jobs_.post(context_.blocking(), std::move(job)); }
  void publish(const std::string& topic, const std::string& payload);

  PluginContext& context_;
  Options options_;
  std::shared_ptr<Batches> batches_;
  ServiceFollower<bus::Bus> events_;
  plugin_common::BackgroundJobs jobs_;
};

}  // namespace hive::data_processing_engine
