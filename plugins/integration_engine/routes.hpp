// The integration routes (hive.routes/1). Every handler runs on the blocking
// executor through `Background`, which the plugin counts for its drain.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "hive/services/http.hpp"
#include "inbound.hpp"
#include "outbound.hpp"

namespace hive::integration_engine {

class IntegrationRoutes final : public http::RouteProvider {
 public:
  // Runs a job on the blocking executor; false when draining (503).
  using Background = std::function<bool(std::function<void()>)>;
  // A token that keeps the plugin from counting as drained while held; null once draining.
  using Hold = std::function<std::shared_ptr<void>()>;
  IntegrationRoutes(std::shared_ptr<InboundWebhooks> inbound, std::shared_ptr<Outbox> outbox,
                    Background background, Hold hold);

  // hive::http::RouteProvider
  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view id, http::Request request, http::Responder respond) override {
    table_.serve(id, std::move(request), std::move(respond));
  }

 private:
  void add(http::Route route, std::function<http::Response(const http::Request&)> handler);
  // 404 when subscription {id} does not exist or is another tenant's (hive.tenancy/1).
  std::optional<http::Response> hidden(const http::Request& request);

  std::shared_ptr<InboundWebhooks> inbound_;
  std::shared_ptr<Outbox> outbox_;
  Background background_;
  Hold hold_;
  http::RouteTable table_;
};

}  // namespace hive::integration_engine
