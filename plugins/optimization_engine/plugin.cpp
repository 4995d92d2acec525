// optimization_engine: adaptive concurrency per agent (hive.concurrency/1,
// asked by the orchestrator's dispatcher), learnt from the run time of each
// attempt on the bus topic `tasks`; GET /api/v2/optimization/concurrency.
// Entry: manifest and wiring only.
#include "hive/plugin.hpp"

#include <memory>

#include "agent_limits.hpp"
#include "attempt_events.hpp"
#include "config.hpp"
#include "hive/follower.hpp"
#include "hive/services/bus.hpp"
#include "hive/services/concurrency.hpp"
#include "hive/services/http.hpp"
#include "routes.hpp"

namespace hive::optimization_engine {
namespace {

class OptimizationEnginePlugin final : public Plugin {
 public:
  explicit OptimizationEnginePlugin(PluginContext& context) : context_(context) {}

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override {
    settings_ = readSettings(section, diagnostics);
  }

  Status start() override {
    limits_ = std::make_shared<AgentLimits>(settings_.gradient, context_.metrics(), settings_.maxAgents);
    attempts_ = std::make_shared<AttemptEvents>(limits_, settings_.trackedTasks);
    if (settings_.adaptiveConcurrency) HIVE_TRY(context_.services().provide<concurrency::Limiter>(limits_));
    HIVE_TRY(context_.services().provide<http::RouteProvider>(
        std::make_shared<OptimizationRoutes>(limits_, settings_.adaptiveConcurrency)));
    // Without a bus yet, the follower subscribes when one is provided.
    (void)taskEvents_.start();
    context_.log().info(std::string("adaptive concurrency ") +
                        (settings_.adaptiveConcurrency ? "enforced" : "learnt, not enforced") +
                        ": windows of " + std::to_string(settings_.gradient.windowSamples) +
                        " attempts, tolerance " + std::to_string(settings_.gradient.tolerance));
    return okStatus();
  }

  void stop() override { taskEvents_.stop(); }

 private:
  PluginContext& context_;
  Settings settings_;
  std::shared_ptr<AgentLimits> limits_;
  std::shared_ptr<AttemptEvents> attempts_;
  ServiceFollower<bus::Bus> taskEvents_{
      context_.services(), [this](bus::Bus& bus) {
        return bus.subscribe("tasks",
                             [attempts = attempts_](const bus::Event& e) { attempts->record(e.payload); });
      }};
};

}  // namespace
}  // namespace hive::optimization_engine

HIVE_PLUGIN(hive::optimization_engine::OptimizationEnginePlugin, .name = "optimization_engine",
            .version = HIVE_PLUGIN_VERSION,
            .description = "Adaptive concurrency per agent from task run times (hive.concurrency/1)",
            .provides = {hive::concurrency::Limiter::kServiceId, hive::http::RouteProvider::kServiceId})
