#include "routes.hpp"

#include <chrono>

#include <boost/json.hpp>

#include "exposition.hpp"

namespace hive::monitoring_engine {
namespace {

constexpr const char* kMetricsOpenApi =
    R"json({"summary":"Every series of the kernel's registry (Prometheus text 0.0.4, or OpenMetrics 1.0 on Accept: application/openmetrics-text)","tags":["observability"],)json"
    R"json("responses":{"200":{"description":"The exposition","content":{"text/plain":{"schema":{"type":"string"}},"application/openmetrics-text":{"schema":{"type":"string"}}}},)json"
    R"json("default":{"description":"Error","content":{"application/problem+json":{"schema":{"$ref":"#/components/schemas/Problem"}}}}}})json";

constexpr const char* kHealthOpenApi =
    R"json({"summary":"Each started plugin's health as the monitoring engine last saw it: healthy or not, since when, the last error; ready is what GET /readyz answers","tags":["observability"],)json"
    R"json("responses":{"200":{"description":"OK","content":{"application/json":{"schema":{"type":"object","properties":{"ready":{"type":"boolean"},"checked_at":{"type":"integer"},"period_ms":{"type":"integer"},"poll_error":{"type":"string"},)json"
    R"json("plugins":{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"},"generation":{"type":"integer"},"healthy":{"type":"boolean"},"optional":{"type":"boolean"},"since":{"type":"integer"},"error":{"type":"string"},"last_error":{"type":"string"},"last_error_at":{"type":"integer"},"checked_at":{"type":"integer"}},"required":["name","healthy","since"]}}},"required":["ready","plugins"]}}}},)json"
    R"json("default":{"description":"Error","content":{"application/problem+json":{"schema":{"$ref":"#/components/schemas/Problem"}}}}}})json";

constexpr const char* kAlertsOpenApi =
    R"json({"summary":"Alerts pending and firing now (items), the most recent resolved ones, and the rules evaluated","tags":["observability"],)json"
    R"json("responses":{"200":{"description":"OK","content":{"application/json":{"schema":{"type":"object","properties":{"evaluated_at":{"type":"integer"},"period_ms":{"type":"integer"},)json"
    R"json("items":{"type":"array","items":{"$ref":"#/components/schemas/Alert"}},"resolved":{"type":"array","items":{"$ref":"#/components/schemas/Alert"}},"rules":{"type":"array","items":{"type":"object"}}},"required":["items","resolved","rules"]}}}},)json"
    R"json("default":{"description":"Error","content":{"application/problem+json":{"schema":{"$ref":"#/components/schemas/Problem"}}}}}})json";

}  // namespace

MonitoringRoutes::MonitoringRoutes(PluginContext& context, std::shared_ptr<std::atomic<int>> inFlight,
                                   std::shared_ptr<HealthMonitor> health,
                                   std::chrono::milliseconds healthPeriod,
                                   std::shared_ptr<AlertEngine> alerts, std::chrono::milliseconds alertPeriod)
    : context_(context),
      inFlight_(std::move(inFlight)),
      health_(std::move(health)),
      healthPeriod_(healthPeriod),
      alerts_(std::move(alerts)),
      alertPeriod_(alertPeriod),
      process_(context.metrics()),
      scrapeSeconds_(context.metrics().histogram(
          "hive_metrics_scrape_duration_seconds", "Time to render one GET /metrics answer",
          {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25})) {
  table_.add(
      {.id = "metrics",
       .method = "GET",
       .path = "/metrics",
       .permission = "metrics:read",
       .openapi = kMetricsOpenApi},
      [this](http::Request request, http::Responder respond) { metrics(request, std::move(respond)); });
  table_.add({.id = "observability.health",
              .method = "GET",
              .path = "/api/v2/observability/health",
              .permission = "observability:read",
              .openapi = kHealthOpenApi},
             [this](http::Request, http::Responder respond) { respond(this->health()); });
  table_.add({.id = "observability.alerts",
              .method = "GET",
              .path = "/api/v2/observability/alerts",
              .permission = "observability:read",
              .openapi = kAlertsOpenApi},
             [this](http::Request, http::Responder respond) { respond(this->alerts()); });
}

std::string MonitoringRoutes::openapiSchemas() {
  return R"json({"Alert":{"type":"object","properties":{"rule":{"type":"string"},"state":{"type":"string","enum":["pending","firing","resolved"]},"severity":{"type":"string","enum":["info","warning","critical"]},"summary":{"type":"string"},"metric":{"type":"string"},"labels":{"type":"object","additionalProperties":{"type":"string"}},"comparison":{"type":"string"},"threshold":{"type":"number"},"value":{"type":"number"},"rate_window_ms":{"type":"integer"},"for_ms":{"type":"integer"},"active_since_ms":{"type":"integer"},"firing_since_ms":{"type":"integer"},"resolved_at_ms":{"type":"integer"}},"required":["rule","state","severity","metric","labels"]}})json";
}

http::Response MonitoringRoutes::alerts() const {
  AlertsSnapshot snapshot = alerts_->snapshot();
  boost::json::array active;
  for (const auto& alert : snapshot.active) active.push_back(boost::json::parse(alerts_->alertJson(alert)));
  boost::json::array resolved;
  for (const auto& alert : snapshot.resolved)
    resolved.push_back(boost::json::parse(alerts_->alertJson(alert)));
  boost::json::array rules;
  for (const auto& rule : alerts_->rules()) {
    boost::json::object labels;
    for (const auto& [name, value] : rule.labels) labels[name] = value;
    boost::json::object r{{"name", rule.name},
                          {"metric", rule.metric},
                          {"labels", std::move(labels)},
                          {"comparison", comparisonText(rule.comparison)},
                          {"threshold", rule.threshold},
                          {"for_ms", rule.forDuration.count()},
                          {"severity", severityName(rule.severity)},
                          {"summary", rule.summary}};
    if (rule.rate.count() > 0) r["rate_window_ms"] = rule.rate.count();
    rules.push_back(std::move(r));
  }
  boost::json::object body{{"evaluated_at", snapshot.evaluatedAtMs},
                           {"period_ms", alertPeriod_.count()},
                           {"items", std::move(active)},
                           {"resolved", std::move(resolved)},
                           {"rules", std::move(rules)}};
  http::Response response;
  response.body = boost::json::serialize(body);
  return response;
}

http::Response MonitoringRoutes::health() const {
  HealthSnapshot snapshot = health_->snapshot();
  boost::json::array plugins;
  bool ready = true;
  for (const auto& r : snapshot.plugins) {
    boost::json::object plugin{{"name", r.plugin},       {"generation", r.generation},
                               {"healthy", r.healthy},   {"optional", r.optional},
                               {"since", r.sinceUnixMs}, {"checked_at", r.checkedUnixMs}};
    if (!r.healthy) plugin["error"] = r.error;
    if (r.lastErrorUnixMs != 0) {
      plugin["last_error"] = r.lastError;
      plugin["last_error_at"] = r.lastErrorUnixMs;
    }
    if (!r.healthy && !r.optional) ready = false;
    plugins.push_back(std::move(plugin));
  }
  boost::json::object body{{"ready", ready},
                           {"checked_at", snapshot.lastPollUnixMs},
                           {"period_ms", healthPeriod_.count()},
                           {"plugins", std::move(plugins)}};
  if (!snapshot.pollError.empty()) body["poll_error"] = snapshot.pollError;
  http::Response response;
  response.body = boost::json::serialize(body);
  return response;
}

void MonitoringRoutes::metrics(const http::Request& request, http::Responder respond) {
  ExpositionFormat format = negotiate(request.header("accept"));
  // Rendering walks every series: a blocking-pool thread, not an I/O one.
  ++*inFlight_;
  context_.blocking().post([this, format, inFlight = inFlight_, respond = std::move(respond)]() mutable {
    auto begin = std::chrono::steady_clock::now();
    process_.update();
    std::string text = context_.metrics().exposition();
    http::Response response;
    if (format == ExpositionFormat::kOpenMetrics) {
      response.contentType = std::string(kOpenMetricsContentType);
      response.body = toOpenMetrics(text);
    } else {
      response.contentType = std::string(kPrometheusContentType);
      response.body = std::move(text);
    }
    scrapeSeconds_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count());
    respond(std::move(response));
    --*inFlight;
  });
}

}  // namespace hive::monitoring_engine
