// The batch routes (hive.routes/1). Every handler runs on the blocking
// executor through `Background`, which the plugin counts for its drain.
#pragma once

#include <functional>
#include <memory>

#include "batches.hpp"
#include "hive/services/http.hpp"
#include "hive/services/tenancy.hpp"

namespace hive::data_processing_engine {

class BatchRoutes final : public http::RouteProvider {
 public:
  using Background = std::function<bool(std::function<void()>)>;
  BatchRoutes(std::shared_ptr<Batches> batches, Background background);

  // hive::http::RouteProvider
  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view id, http::Request request, http::Responder respond) override {
    table_.serve(id, std::move(request), std::move(respond));
  }

 private:
  void add(http::Route route, std::function<http::Response(const http::Request&)> handler);
  // The caller's tenant (hive.tenancy/1).
  tenancy::Scope scopeOf(const http::Request& request);
  // Batch {id} when the caller may see it; another tenant's is "not found", as a missing one.
  Result<boost::json::object> visible(const http::Request& request);

  std::shared_ptr<Batches> batches_;
  Background background_;
  http::RouteTable table_;
};

}  // namespace hive::data_processing_engine
