// communication_manager: messages between agents and from clients to agents,
// over the agents' WebSockets (hive.agent_frames/1) with a durable queue per
// recipient on the bus. This file is the plugin's lifecycle only.
#include "hive/plugin.hpp"

#include <atomic>
#include <memory>

#include "config.hpp"
#include "hive/services/agent_frames.hpp"
#include "hive/services/bus.hpp"
#include "hive/services/store.hpp"
#include "messenger.hpp"
#include "routes.hpp"

namespace hive::communication_manager {

class CommunicationManagerPlugin final : public Plugin {
 public:
  explicit CommunicationManagerPlugin(PluginContext& context) : context_(context) {}

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override {
    options_ = readOptions(section, diagnostics);
  }
  Status start() override {
    auto bus = HIVE_TRY(context_.services().handle<bus::Bus>(), "communication_manager needs hive.bus/1");
    auto store =
        HIVE_TRY(context_.services().handle<store::Store>(), "communication_manager needs hive.store/1");
    auto frames = HIVE_TRY(context_.services().handle<agents::AgentFrames>(),
                           "communication_manager needs hive.agent_frames/1 (the orchestrator plugin)");
    messenger_ =
        std::make_shared<Messenger>(context_, options_, std::move(bus), std::move(store), std::move(frames));
    HIVE_TRY(messenger_->open());
    HIVE_TRY(context_.services().provide<http::RouteProvider>(makeMessageRoutes(messenger_)));
    sweeper_ = context_.timers().every(options_.sweepPeriod, [this] {
      if (sweeping_.exchange(true)) return;
      messenger_->post([this] {
        messenger_->sweep();
        sweeping_ = false;
      });
    });
    context_.log().info("started on node " + options_.node);
    return okStatus();
  }
  void stop() override {
    sweeper_.reset();
    if (messenger_) messenger_->close();
  }
  Status health() override { return messenger_ ? okStatus() : unavailable("not started"); }
  bool drained() const override { return !messenger_ || messenger_->idle(); }

 private:
  PluginContext& context_;
  Options options_;
  std::shared_ptr<Messenger> messenger_;
  std::atomic<bool> sweeping_{false};
  std::unique_ptr<Timer> sweeper_;
};

}  // namespace hive::communication_manager

HIVE_PLUGIN(
    hive::communication_manager::CommunicationManagerPlugin, .name = "communication_manager",
    .version = HIVE_PLUGIN_VERSION,
    .description = "Messages between agents and from clients to agents, with durable queues and dead letters",
    .provides = {hive::http::RouteProvider::kServiceId},
    .requiredServices = {hive::bus::Bus::kServiceId, hive::store::Store::kServiceId,
                         hive::agents::AgentFrames::kServiceId})
