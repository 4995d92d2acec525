// The context routes (hive.routes/1): entries and search over REST, under
// /api/v2/contexts/{scope}. Every handler runs on the blocking executor
// through Jobs; permissions contexts:read and contexts:write.
#pragma once

#include <functional>
#include <memory>

#include "compressor.hpp"
#include "contexts.hpp"
#include "hive/services/http.hpp"
#include "jobs.hpp"

namespace hive::context_manager {

class ContextRoutes final : public http::RouteProvider {
 public:
  // `compressor` may be null (no budget checks after a write).
  ContextRoutes(std::shared_ptr<Contexts> contexts, std::shared_ptr<Compressor> compressor, Jobs& jobs);

  // hive::http::RouteProvider
  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view id, http::Request request, http::Responder respond) override {
    table_.serve(id, std::move(request), std::move(respond));
  }

 private:
  void add(http::Route route, std::function<http::Response(const http::Request&)> handler);
  http::Response put(const http::Request& request);
  http::Response list(const http::Request& request);
  http::Response search(const http::Request& request);
  http::Response describe(const http::Request& request);

  std::shared_ptr<Contexts> contexts_;
  std::shared_ptr<Compressor> compressor_;
  Jobs& jobs_;
  http::RouteTable table_;
};

}  // namespace hive::context_manager
