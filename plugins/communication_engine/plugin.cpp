// communication_engine: provides hive.bus/1 over the local or the redis transport.
#include "hive/plugin.hpp"

#include <memory>

#include "bus_metrics.hpp"
#include "config.hpp"
#include "hive/asio.hpp"
#include "hive/services/bus.hpp"
#include "hive/services/bus_batch.hpp"
#include "local_bus.hpp"
#include "redis_bus.hpp"

namespace hive::communication_engine {
namespace {

// hive.bus_batch/1 beside hive.bus/1, on the same bus.
template <typename Transport>
class Batches final : public bus::BatchPublisher {
 public:
  explicit Batches(std::shared_ptr<Transport> bus) : bus_(std::move(bus)) {}
  std::vector<Result<std::string>> publishAll(const std::vector<bus::Outgoing>& events) override {
    return bus_->publishAll(events);
  }

 private:
  std::shared_ptr<Transport> bus_;
};

template <typename Transport>
Status provideBoth(ServiceRegistry& services, std::shared_ptr<Transport> bus) {
  HIVE_TRY(services.provide<bus::BatchPublisher>(std::make_shared<Batches<Transport>>(bus)));
  return services.provide<bus::Bus>(std::move(bus));
}

class CommunicationEnginePlugin final : public Plugin {
 public:
  explicit CommunicationEnginePlugin(PluginContext& context) : context_(context) {}
  ~CommunicationEnginePlugin() override { stop(); }

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override {
    config_ = readBusConfig(section, diagnostics);
  }

  Status start() override {
    metrics_ = std::make_shared<BusMetrics>(context_.metrics());
    if (config_.transport == Transport::kLocal) {
      auto bus = std::make_shared<LocalBus>(config_, context_.log(), metrics_);
      bus->watchDispatcher(dispatcherHeartbeat());
      // A consumer's subscription follows a swap of this plugin on its own.
      bus->shareSubscribers(context_.services());
      bus->start();
      local_ = bus;
      context_.log().info("bus: local transport (streams are in memory, not durable across restarts)");
      return provideBoth(context_.services(), std::move(bus));
    }
    auto bus = std::make_shared<RedisBus>(ioContext(context_), config_, context_.log(), metrics_);
    bus->watchDispatcher(dispatcherHeartbeat());
    bus->shareSubscribers(context_.services());
    HIVE_TRY(bus->start());
    redis_ = bus;
    return provideBoth(context_.services(), std::move(bus));
  }

  // Optional: no watchdog (the SDK harness), no heartbeat.
  std::unique_ptr<watchdog::Heartbeat> dispatcherHeartbeat() {
    auto dog = context_.services().get<watchdog::Watchdog>();
    return dog.ok() ? (*dog)->watch("communication_engine/dispatcher", (*dog)->period()) : nullptr;
  }

  void stop() override {
    if (local_) local_->stop();
    if (redis_) redis_->stop();
  }

  Status health() override {
    if (redis_) return redis_->ping();
    return okStatus();
  }

 private:
  PluginContext& context_;
  BusConfig config_;
  std::shared_ptr<BusMetrics> metrics_;
  std::shared_ptr<LocalBus> local_;
  std::shared_ptr<RedisBus> redis_;
};

}  // namespace
}  // namespace hive::communication_engine

HIVE_PLUGIN(hive::communication_engine::CommunicationEnginePlugin, .name = "communication_engine",
            .version = "1.0.0", .description = "Events and durable streams (hive.bus/1): local or redis",
            .provides = {hive::bus::Bus::kServiceId, hive::bus::BatchPublisher::kServiceId})
