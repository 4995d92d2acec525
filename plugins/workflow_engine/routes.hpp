// The workflow routes (hive.routes/1): definitions and runs over REST. Every
// handler runs on the blocking executor through Engine::background.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "engine.hpp"
#include "hive/services/http.hpp"
#include "hive/services/tenancy.hpp"
#include "scheduler.hpp"

namespace hive::workflow_engine {

class WorkflowRoutes final : public http::RouteProvider {
 public:
  WorkflowRoutes(std::shared_ptr<Engine> engine, std::shared_ptr<Scheduler> scheduler);

  // hive::http::RouteProvider
  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view id, http::Request request, http::Responder respond) override {
    table_.serve(id, std::move(request), std::move(respond));
  }

 private:
  void add(http::Route route, std::function<http::Response(const http::Request&)> handler);
  http::Response apply(const http::Request& request);
  http::Response startRun(const http::Request& request);
  http::Response listRuns(const http::Request& request, const std::string& workflow);
  // The caller's tenant (hive.tenancy/1): whose workflows it names, applies and starts.
  tenancy::Scope scopeOf(const http::Request& request);
  // Whose objects a list or a name shows the caller: its tenant's; for a
  // caller that spans tenants, ?tenant='s, or (nullopt) every tenant's.
  std::optional<std::string> shownTenant(const http::Request& request);
  // Run {id} when the caller may see it (of workflow {name} when the route has
  // one); another tenant's is "not found", as a missing one.
  Result<boost::json::object> visibleRun(const http::Request& request);

  std::shared_ptr<Engine> engine_;
  std::shared_ptr<Scheduler> scheduler_;
  http::RouteTable table_;
};

}  // namespace hive::workflow_engine
