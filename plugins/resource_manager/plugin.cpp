// resource_manager: watches the jobs of process agents (hive.job_watch/1,
// asked by task_execution_engine), ends those over their quota, refuses new
// tasks while the host is saturated (hive.admission/1, asked by task_manager),
// and shows what the host and the jobs use (GET /api/v2/resources). Entry:
// manifest and wiring only.
#include "hive/plugin.hpp"

#include <atomic>
#include <memory>

#include "admission_gate.hpp"
#include "config.hpp"
#include "hive/services/http.hpp"
#include "hive/services/job_watch.hpp"
#include "job_tracker.hpp"
#include "job_usage.hpp"
#include "load_signals.hpp"
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
    admission_ = std::make_shared<AdmissionGate>(settings_.admission, context_.metrics());
    HIVE_TRY(context_.services().provide<jobs::JobWatcher>(jobs_));
    HIVE_TRY(context_.services().provide<jobs::UsageReader>(std::make_shared<JobUsageReader>(jobs_)));
    HIVE_TRY(context_.services().provide<admission::Gate>(admission_));
    HIVE_TRY(context_.services().provide<http::RouteProvider>(
        std::make_shared<ResourceRoutes>(jobs_, admission_)));
    // Admitting until the first sample, one interval on.
    if (settings_.admission.any())
      sampleTimer_ = context_.timers().every(settings_.admission.interval, [this] { sampleOffThread(); });
    context_.log().info("watching process agents' jobs: " + std::to_string(settings_.agents.size()) +
                        " agent quota(s) besides the default; admission control " +
                        (settings_.admission.any() ? "on" : "off"));
    return okStatus();
  }

  // The services are withdrawn after stop(); the tracker and the gate answer
  // whoever still holds them (a job checked while the plugin stops) from their own state.
  void stop() override { sampleTimer_.reset(); }

  bool drained() const override { return *inFlight_ == 0; }

 private:
  // One sample at a time, on the blocking pool: the waiting count is a store query.
  void sampleOffThread() {
    if (sampling_->exchange(true)) return;
    ++*inFlight_;
    context_.blocking().post([this, sampling = sampling_, inFlight = inFlight_] {
      sample();
      *sampling = false;
      --*inFlight;
    });
  }

  void sample() {
    LoadSignals signals = readLoadSignals(context_, settings_.admission);
    if (signals.unreadable != unreadable_) {
      if (!signals.unreadable.empty())
        context_.log().warn("admission control cannot read " + signals.unreadable);
      unreadable_ = signals.unreadable;
    }
    if (!admission_->update(signals, clock_.nowMs())) return;
    if (auto crossing = admission_->crossing())
      context_.log().warn("admission control refuses new tasks: " + crossing->reason);
    else
      context_.log().info("admission control admits new tasks again");
  }

  PluginContext& context_;
  Settings settings_;
  std::shared_ptr<JobTracker> jobs_;
  std::shared_ptr<AdmissionGate> admission_;
  plugin_common::SystemClock clock_;
  std::string unreadable_;  // sample() runs one at a time
  std::shared_ptr<std::atomic<int>> inFlight_ = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::atomic<bool>> sampling_ = std::make_shared<std::atomic<bool>>(false);
  std::unique_ptr<Timer> sampleTimer_;
};

}  // namespace
}  // namespace hive::resource_manager

HIVE_PLUGIN(
    hive::resource_manager::ResourceManagerPlugin, .name = "resource_manager", .version = HIVE_PLUGIN_VERSION,
    .description =
        "Process agents' jobs: use and quotas (hive.job_watch/1, hive.job_usage/1); admission control; "
        "/api/v2/resources",
    .provides = {hive::jobs::JobWatcher::kServiceId, hive::jobs::UsageReader::kServiceId,
                 hive::admission::Gate::kServiceId, hive::http::RouteProvider::kServiceId})
