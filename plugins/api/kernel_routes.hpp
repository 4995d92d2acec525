// The routes api serves itself: health and readiness, the admin routes over
// hive.admin/1 (the kernel's own service), and the OpenAPI document.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "hive/context.hpp"
#include "hive/services/http.hpp"
#include "router.hpp"

namespace hive::api {

// Blocking work posted by the plugin, counted so that drain and stop wait for it.
class WorkCounter {
 public:
  bool enter();
  void leave();
  void refuse();
  void accept();
  bool idle() const;
  void stopAndWait();

 private:
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::size_t inFlight_ = 0;
  bool refusing_ = false;
};

class KernelRoutes final : public http::RouteProvider {
 public:
  // `draining` tells /readyz that this generation is going away.
  KernelRoutes(PluginContext& context, TableHolder& table, std::function<bool()> draining);

  // http::RouteProvider
  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view routeId, http::Request request, http::Responder respond) override {
    table_.serve(routeId, std::move(request), std::move(respond));
  }
  std::string openapiSchemas() override;

  WorkCounter& work() { return work_; }

 private:
  void health(http::Responder respond);
  void livez(http::Responder respond);
  void readyz(http::Responder respond);
  void plugins(http::Responder respond);
  void plugin(const std::string& name, http::Responder respond);
  void reloadPlugin(const std::string& name, http::Responder respond);
  // 202 Accepted with a Location to follow: the kernel swaps on a thread of its own.
  void startReload(const std::string& name, http::Responder respond);
  void reload(const std::string& id, http::Responder respond);
  void reloadConfig(http::Responder respond);
  void openapi(http::Responder respond);

  PluginContext& context_;
  TableHolder& routingTable_;
  std::function<bool()> draining_;
  http::RouteTable table_;
  WorkCounter work_;
};

// One OpenAPI 3.1 document from every route in `table`.
std::string buildOpenApi(const Table& table, const std::string& version);

}  // namespace hive::api
