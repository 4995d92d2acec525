// The monitoring_engine's HTTP routes (hive.routes/1): GET /metrics and the
// observability detail under /api/v2/observability.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "alert_engine.hpp"
#include "health_monitor.hpp"
#include "hive/context.hpp"
#include "hive/services/http.hpp"
#include "process_metrics.hpp"

namespace hive::monitoring_engine {

class MonitoringRoutes final : public http::RouteProvider {
 public:
  // `inFlight` counts requests posted to the blocking executor, for the
  // plugin's drained().
  MonitoringRoutes(PluginContext& context, std::shared_ptr<std::atomic<int>> inFlight,
                   std::shared_ptr<HealthMonitor> health, std::chrono::milliseconds healthPeriod,
                   std::shared_ptr<AlertEngine> alerts, std::chrono::milliseconds alertPeriod);

  // hive::http::RouteProvider
  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view id, http::Request request, http::Responder respond) override {
    table_.serve(id, std::move(request), std::move(respond));
  }
  std::string openapiSchemas() override;

 private:
  void metrics(const http::Request& request, http::Responder respond);
  http::Response health() const;
  http::Response alerts() const;

  PluginContext& context_;
  std::shared_ptr<std::atomic<int>> inFlight_;
  std::shared_ptr<HealthMonitor> health_;
  const std::chrono::milliseconds healthPeriod_;
  std::shared_ptr<AlertEngine> alerts_;
  const std::chrono::milliseconds alertPeriod_;
  ProcessMetrics process_;
  Histogram& scrapeSeconds_;
  http::RouteTable table_;
};

}  // namespace hive::monitoring_engine
