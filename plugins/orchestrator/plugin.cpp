// orchestrator: agents over REST and WebSocket, and the assignment of tasks
// from hive.tasks/1 to them. This file is the plugin's lifecycle only.
#include "hive/plugin.hpp"

#include <atomic>
#include <memory>

#include "config.hpp"
#include "orchestrator.hpp"
#include "plugin.hpp"
#include "routes.hpp"

namespace hive::orchestrator {

OrchestratorPlugin::OrchestratorPlugin(PluginContext& context, const Clock& clock)
    : context_(context), clock_(clock) {}

void OrchestratorPlugin::configure(const ConfigNode& section, Diagnostics& diagnostics) {
  options_ = readOptions(section, diagnostics);
  // This generation is staged to replace the one serving (or it is the
  // first): the serving one hands its remote agents over now, before the
  // kernel waits for its leases (succession.hpp). Not for a configuration
  // that will be refused.
  if (!succession_) succession_ = std::make_unique<Succession>(context_.services());
  if (!diagnostics.hasErrors()) succession_->takeOver(options_.handoverWait);
}

Status OrchestratorPlugin::start() {
  auto tasks = HIVE_TRY(context_.services().handle<tasks::TaskService>(), "orchestrator needs hive.tasks/1");
  auto store = HIVE_TRY(context_.services().handle<store::Store>(), "orchestrator needs hive.store/1");
  if (!frameHandlers_) frameHandlers_ = std::make_unique<FrameHandlers>(context_.services(), context_.log());
  orchestrator_ =
      Orchestrator::create(context_, clock_, options_, std::move(tasks), std::move(store), *frameHandlers_);
  HIVE_TRY(orchestrator_->open());
  HIVE_TRY(context_.services().provide<http::RouteProvider>(makeAgentRoutes(orchestrator_)));
  HIVE_TRY(context_.services().provide<agents::AgentFrames>(
      makeAgentFramesService(orchestrator_, orchestrator_->frames(), orchestrator_->background())));
  if (succession_) succession_->serve(orchestrator_->remoteAgents());
  sweeper_ = context_.timers().every(options_.sweepPeriod, [this] {
    if (sweepQueued_.exchange(true)) return;
    orchestrator_->background().post([this] {
      orchestrator_->sweep();
      sweepQueued_ = false;
    });
  });
  context_.log().info("started on node " + options_.node);
  return okStatus();
}

void OrchestratorPlugin::stop() {
  if (succession_) succession_->leave();
  sweeper_.reset();
  if (orchestrator_) orchestrator_->close();
}

Status OrchestratorPlugin::health() { return orchestrator_ ? okStatus() : unavailable("not started"); }

bool OrchestratorPlugin::drained() const { return !orchestrator_ || orchestrator_->idle(); }

}  // namespace hive::orchestrator

HIVE_PLUGIN(hive::orchestrator::OrchestratorPlugin, .name = "orchestrator", .version = HIVE_PLUGIN_VERSION,
            .description = "Agents (remote over WebSocket, process via hive.executor/1) and task assignment",
            .provides = {hive::http::RouteProvider::kServiceId, hive::agents::AgentFrames::kServiceId},
            .requiredServices = {hive::tasks::TaskService::kServiceId, hive::store::Store::kServiceId})
