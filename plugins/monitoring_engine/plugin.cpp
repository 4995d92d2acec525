// monitoring_engine: serves the kernel's metrics over HTTP (GET /metrics).
#include "hive/plugin.hpp"

#include <atomic>
#include <memory>

#include "config.hpp"
#include "hive/services/http.hpp"
#include "routes.hpp"

namespace hive::monitoring_engine {
namespace {

class MonitoringEnginePlugin final : public Plugin {
 public:
  explicit MonitoringEnginePlugin(PluginContext& context) : context_(context) {}

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override {
    settings_ = readSettings(section, diagnostics);
  }

  Status start() override {
    HIVE_TRY(context_.services().provide<http::RouteProvider>(
        std::make_shared<MonitoringRoutes>(context_, inFlight_)));
    context_.log().info("started: GET /metrics");
    return okStatus();
  }

  void stop() override {}

  bool drained() const override { return *inFlight_ == 0; }

 private:
  PluginContext& context_;
  Settings settings_;
  std::shared_ptr<std::atomic<int>> inFlight_ = std::make_shared<std::atomic<int>>(0);
};

}  // namespace
}  // namespace hive::monitoring_engine

HIVE_PLUGIN(hive::monitoring_engine::MonitoringEnginePlugin, .name = "monitoring_engine",
            .version = HIVE_PLUGIN_VERSION,
            .description = "Metrics over HTTP (/metrics), readiness from plugins' health, alerts",
            .provides = {hive::http::RouteProvider::kServiceId})
