// The context routes (hive.routes/1): entries and search over REST, under
// /api/v2/contexts/{scope}. Every handler runs on the blocking executor
// through Jobs; permissions contexts:read and contexts:write.
//
// Tenants (hive.tenancy/1): a request works in its caller's tenant's context
// of {scope} only; another tenant's entry is "not found". A caller that spans
// tenants (admin, or any caller when no provider runs) works in the default
// tenant's, or in the one `?tenant=` names.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "compressor.hpp"
#include "contexts.hpp"
#include "hive/services.hpp"
#include "hive/services/http.hpp"
#include "jobs.hpp"
#include "scope.hpp"

namespace hive::context_manager {

class ContextRoutes final : public http::RouteProvider {
 public:
  // `compressor` may be null (no budget checks after a write). `services`
  // (which must outlive this) answers hive.tenancy/1 at each request.
  ContextRoutes(std::shared_ptr<Contexts> contexts, std::shared_ptr<Compressor> compressor, Jobs& jobs,
                ServiceRegistry& services);

  // hive::http::RouteProvider
  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view id, http::Request request, http::Responder respond) override {
    table_.serve(id, std::move(request), std::move(respond));
  }

 private:
  // The context `request` addresses, or nullopt with the 422 to answer in `refused`.
  std::optional<ScopeRef> contextOf(const http::Request& request, http::Response& refused);
  void add(http::Route route, std::function<http::Response(const http::Request&)> handler);
  http::Response clear(const http::Request& request);
  http::Response get(const http::Request& request);
  http::Response remove(const http::Request& request);
  http::Response put(const http::Request& request);
  http::Response list(const http::Request& request);
  http::Response search(const http::Request& request);
  http::Response describe(const http::Request& request);

  std::shared_ptr<Contexts> contexts_;
  std::shared_ptr<Compressor> compressor_;
  Jobs& jobs_;
  ServiceRegistry& services_;
  http::RouteTable table_;
};

}  // namespace hive::context_manager
