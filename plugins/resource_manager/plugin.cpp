// resource_manager: watches the jobs of process agents (hive.job_watch/1,
// asked by task_execution_engine), ends those over their quota, and shows
// what the host and the jobs use (GET /api/v2/resources). Entry: manifest and
// wiring only.
#include "hive/plugin.hpp"

#include <memory>

#include "config.hpp"
#include "hive/services/http.hpp"
#include "hive/services/job_watch.hpp"
#include "job_tracker.hpp"
#include "plugin_common/clock.hpp"
#include "process_table.hpp"
#include "routes.hpp"

namespace hive::resource_manager {
namespace {

class ResourceManagerPlugin final : public Plugin {
 public:
  explicit ResourceManagerPlugin(PluginContext& context) : context_(context) {}

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override {
    settings_ = readSettings(section, diagnostics);
  }

  Status start() override {
    jobs_ = std::make_shared<JobTracker>(settings_, context_.metrics(), std::make_shared<ProcessTable>(),
                                         std::make_shared<plugin_common::SystemClock>());
    HIVE_TRY(context_.services().provide<jobs::JobWatcher>(jobs_));
    HIVE_TRY(context_.services().provide<http::RouteProvider>(std::make_shared<ResourceRoutes>(jobs_)));
    context_.log().info("watching process agents' jobs: " + std::to_string(settings_.agents.size()) +
                        " agent quota(s) besides the default");
    return okStatus();
  }

  // The services are withdrawn after stop(); the tracker answers whoever
  // still holds it (a job checked while the plugin stops) from its own state.
  void stop() override {}

 private:
  PluginContext& context_;
  Settings settings_;
  std::shared_ptr<JobTracker> jobs_;
};

}  // namespace
}  // namespace hive::resource_manager

HIVE_PLUGIN(hive::resource_manager::ResourceManagerPlugin, .name = "resource_manager",
            .version = HIVE_PLUGIN_VERSION,
            .description =
                "Resource use and quotas of process agents' jobs (hive.job_watch/1), GET /api/v2/resources",
            .provides = {hive::jobs::JobWatcher::kServiceId, hive::http::RouteProvider::kServiceId})
