// The integration_engine plugin: inbound webhooks, outbound subscriptions
// with their delivery threads, fed by the bus through a follower (it survives
// swaps of communication_engine), and their routes.
#pragma once

#include <memory>
#include <vector>

#include "config.hpp"
#include "hive/follower.hpp"
#include "hive/plugin.hpp"
#include "hive/services/bus.hpp"
#include "inbound.hpp"
#include "outbound.hpp"
#include "plugin_common/background_jobs.hpp"

namespace hive::integration_engine {

class IntegrationEnginePlugin final : public Plugin {
 public:
  explicit IntegrationEnginePlugin(PluginContext& context);
  ~IntegrationEnginePlugin() override;

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override;
  Status start() override;
  void stop() override;
  void beginDrain() override;
  bool drained() const override;
  Status health() override;

 private:
  // Runs `job` on the blocking executor, counted; false once draining.
  bool background(std::function<void()> job) { return jobs_.post(context_.blocking(), std::move(job)); }

  PluginContext& context_;
  Settings settings_;
  std::shared_ptr<InboundWebhooks> inbound_;
  std::shared_ptr<Outbox> outbox_;
  ServiceFollower<bus::Bus, std::vector<std::unique_ptr<hive::Subscription>>> events_;
  std::unique_ptr<Timer> refresher_;
  plugin_common::BackgroundJobs jobs_;
};

}  // namespace hive::integration_engine
