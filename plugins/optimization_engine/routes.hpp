// optimization_engine's HTTP route (hive.routes/1): each agent's adaptive
// concurrency limit and the figures behind it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agent_limits.hpp"
#include "hive/services/http.hpp"

namespace hive::optimization_engine {

class OptimizationRoutes final : public http::RouteProvider {
 public:
  OptimizationRoutes(std::shared_ptr<AgentLimits> limits, bool enforced);

  // hive::http::RouteProvider
  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view id, http::Request request, http::Responder respond) override {
    table_.serve(id, std::move(request), std::move(respond));
  }

 private:
  http::Response concurrency() const;

  std::shared_ptr<AgentLimits> limits_;
  const bool enforced_;
  http::RouteTable table_;
};

}  // namespace hive::optimization_engine
