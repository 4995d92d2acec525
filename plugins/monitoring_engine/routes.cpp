#include "routes.hpp"

#include <chrono>

#include "exposition.hpp"

namespace hive::monitoring_engine {
namespace {

constexpr const char* kMetricsOpenApi =
    R"json({"summary":"Every series of the kernel's registry (Prometheus text 0.0.4, or OpenMetrics 1.0 on Accept: application/openmetrics-text)","tags":["observability"],)json"
    R"json("responses":{"200":{"description":"The exposition","content":{"text/plain":{"schema":{"type":"string"}},"application/openmetrics-text":{"schema":{"type":"string"}}}},)json"
    R"json("default":{"description":"Error","content":{"application/problem+json":{"schema":{"$ref":"#/components/schemas/Problem"}}}}}})json";

}  // namespace

MonitoringRoutes::MonitoringRoutes(PluginContext& context, std::shared_ptr<std::atomic<int>> inFlight)
    : context_(context),
      inFlight_(std::move(inFlight)),
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
