#include "routes.hpp"

#include <boost/json.hpp>

namespace hive::optimization_engine {
namespace {

constexpr const char* kConcurrencyOpenApi =
    R"json({"summary":"Each agent's adaptive concurrency limit (how many tasks the dispatcher gives it at once), its max_concurrency, and the run times behind the limit","tags":["observability"],)json"
    R"json("responses":{"200":{"description":"OK","content":{"application/json":{"schema":{"type":"object","properties":{"enforced":{"type":"boolean"},)json"
    R"json("agents":{"type":"array","items":{"type":"object","properties":{"agent_id":{"type":"string"},"limit":{"type":"integer"},"max_concurrency":{"type":"integer"},"baseline_ms":{"type":"number"},"last_window_ms":{"type":"number"},"windows":{"type":"integer"}},"required":["agent_id","limit","max_concurrency"]}}},"required":["enforced","agents"]}}}},)json"
    R"json("default":{"description":"Error","content":{"application/problem+json":{"schema":{"$ref":"#/components/schemas/Problem"}}}}}})json";

}  // namespace

OptimizationRoutes::OptimizationRoutes(std::shared_ptr<AgentLimits> limits, bool enforced)
    : limits_(std::move(limits)), enforced_(enforced) {
  table_.add({.id = "optimization.concurrency",
              .method = "GET",
              .path = "/api/v2/optimization/concurrency",
              .permission = "observability:read",
              .openapi = kConcurrencyOpenApi},
             [this](http::Request, http::Responder respond) { respond(concurrency()); });
}

http::Response OptimizationRoutes::concurrency() const {
  boost::json::array agents;
  for (const auto& view : limits_->snapshot())
    agents.push_back(boost::json::object{{"agent_id", view.agentId},
                                         {"limit", view.limit},
                                         {"max_concurrency", view.ceiling},
                                         {"baseline_ms", view.baselineMs},
                                         {"last_window_ms", view.lastWindowMs},
                                         {"windows", view.windows}});
  http::Response response;
  response.body =
      boost::json::serialize(boost::json::object{{"enforced", enforced_}, {"agents", std::move(agents)}});
  return response;
}

}  // namespace hive::optimization_engine
