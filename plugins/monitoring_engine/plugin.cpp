// monitoring_engine: serves the kernel's metrics over HTTP (GET /metrics),
// polls every plugin's health for /readyz (hive.readiness/1), samples the task
// queues, records the task series from the task events on the bus, evaluates
// the alert rules. Entry: manifest and wiring only.
#include "hive/plugin.hpp"

#include <atomic>
#include <memory>

#include "alert_engine.hpp"
#include "capability_labels.hpp"
#include "config.hpp"
#include "health_monitor.hpp"
#include "hive/follower.hpp"
#include "hive/services/bus.hpp"
#include "hive/services/health.hpp"
#include "hive/services/http.hpp"
#include "plugin_common/clock.hpp"
#include "queue_depth.hpp"
#include "routes.hpp"
#include "task_metrics.hpp"
#include "tracing.hpp"

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
    health_ = std::make_shared<HealthMonitor>(context_, settings_.optionalPlugins);
    auto labels = std::make_shared<CapabilityLabels>(settings_.queueDepthSeries);
    queues_ = std::make_shared<QueueDepthSampler>(context_, labels);
    tasks_ = std::make_shared<TaskMetrics>(context_.metrics(), labels, clock_, settings_.trackedTasks);
    alerts_ = std::make_shared<AlertEngine>(context_, settings_.alerts);
    HIVE_TRY(context_.services().provide<health::Readiness>(health_));
    HIVE_TRY(context_.services().provide<http::RouteProvider>(std::make_shared<MonitoringRoutes>(
        context_, inFlight_, health_, settings_.healthPeriod, alerts_, settings_.alerts.period)));
    if (!settings_.tracing.collector.url.empty()) {
      exporter_ = std::make_shared<SpanExporter>(settings_.tracing, context_.log(), context_.metrics());
      spans_ = std::make_shared<TaskSpans>(exporter_, settings_.trackedTasks);
      HIVE_TRY(context_.services().provide<tracing::SpanSink>(std::make_shared<ExportingSink>(exporter_)));
    }
    // Without a bus yet, the follower subscribes when one is provided.
    (void)taskEvents_.start();
    healthTimer_ = context_.timers().every(settings_.healthPeriod, [this] { pollHealth(); });
    alertTimer_ = context_.timers().every(settings_.alerts.period, [this] { evaluateAlerts(); });
    context_.log().info("started: GET /metrics, plugin health every " +
                        std::to_string(settings_.healthPeriod.count()) + " ms, " +
                        std::to_string(settings_.alerts.rules.size()) + " alert rules every " +
                        std::to_string(settings_.alerts.period.count()) + " ms, " +
                        std::to_string(settings_.alerts.webhooks.size()) + " webhooks");
    return okStatus();
  }

  void stop() override {
    taskEvents_.stop();
    if (exporter_) exporter_->stop();
    healthTimer_.reset();
    alertTimer_.reset();
    if (alerts_) alerts_->stop();
  }

  bool drained() const override { return *inFlight_ == 0; }

 private:
  void evaluateAlerts() {
    if (evaluating_->exchange(true)) return;
    ++*inFlight_;
    context_.blocking().post([alerts = alerts_, evaluating = evaluating_, inFlight = inFlight_] {
      alerts->evaluate();
      *evaluating = false;
      --*inFlight;
    });
  }

  // One poll at a time: a period shorter than the plugins' health() round
  // trips skips rounds instead of queueing them.
  void pollHealth() {
    // In memory, bounded by tracked_tasks: cheap enough for the timer thread,
    // and it must go on while the store (which the queue sampler asks) is down.
    tasks_->sampleAges();
    if (!polling_->exchange(true)) {
      ++*inFlight_;
      context_.blocking().post([health = health_, polling = polling_, inFlight = inFlight_] {
        health->poll();
        *polling = false;
        --*inFlight;
      });
    }
    // Apart from the health poll: depth() queries the store, which may be the
    // server that is down, and readiness must not wait for it.
    if (!sampling_->exchange(true)) {
      ++*inFlight_;
      context_.blocking().post([queues = queues_, sampling = sampling_, inFlight = inFlight_] {
        queues->sample();
        *sampling = false;
        --*inFlight;
      });
    }
  }

  PluginContext& context_;
  Settings settings_;
  std::shared_ptr<std::atomic<int>> inFlight_ = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::atomic<bool>> polling_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<HealthMonitor> health_;
  std::shared_ptr<QueueDepthSampler> queues_;
  std::shared_ptr<std::atomic<bool>> sampling_ = std::make_shared<std::atomic<bool>>(false);
  plugin_common::SystemClock clock_;
  std::shared_ptr<TaskMetrics> tasks_;
  std::shared_ptr<SpanExporter> exporter_;  // with tracing.endpoint
  std::shared_ptr<TaskSpans> spans_;
  ServiceFollower<bus::Bus> taskEvents_{
      context_.services(), [this](bus::Bus& bus) {
        return bus.subscribe("tasks", [tasks = tasks_, spans = spans_](const bus::Event& event) {
          tasks->record(event.payload);
          if (spans) spans->record(event.payload);
        });
      }};
  std::unique_ptr<Timer> healthTimer_;
  std::shared_ptr<std::atomic<bool>> evaluating_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<AlertEngine> alerts_;
  std::unique_ptr<Timer> alertTimer_;
};

}  // namespace
}  // namespace hive::monitoring_engine

HIVE_PLUGIN(hive::monitoring_engine::MonitoringEnginePlugin, .name = "monitoring_engine",
            .version = HIVE_PLUGIN_VERSION,
            .description = "Metrics over HTTP (/metrics), readiness from plugins' health, alerts",
            .provides = {hive::http::RouteProvider::kServiceId, hive::health::Readiness::kServiceId,
                         hive::tracing::SpanSink::kServiceId})
