#include "routes.hpp"

#include <functional>

#include "plugin_common/page_limit.hpp"
#include "render.hpp"

namespace hive::orchestrator {
namespace {

using openapi::Body;
using openapi::PathId;

http::Response json(int status, std::string body) {
  http::Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

template <typename T, typename Render>
http::Response answer(const Result<T>& result, Render render) {
  return result.ok() ? json(200, render(*result)) : http::problem(result.status());
}

http::Response invalid(const Status& status, std::vector<http::FieldError>& errors) {
  if (errors.empty()) return http::problem(400, "Bad Request", status.message());
  return http::problem(422, "Unprocessable Content", status.message(), std::move(errors));
}

class AgentRoutes final : public http::RouteProvider {
 public:
  explicit AgentRoutes(std::shared_ptr<Orchestrator> orchestrator)
      : orchestrator_(std::move(orchestrator)), admin_(orchestrator_->admin()) {
    addWrites();
    addReads();
  }

  // http::RouteProvider
  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view id, http::Request request, http::Responder respond) override {
    table_.serve(id, std::move(request), std::move(respond));
  }
  std::vector<http::WebSocketRoute> webSocketRoutes() override {
    return {{"agents.connect", "/api/v2/agents/connect", "agents:connect", "hive.agent.v1",
             "Remote agents: hello, task.assign, task.accept, task.progress, task.result, heartbeat, drain "
             "(docs/agent-protocol.md)"}};
  }
  Result<std::shared_ptr<http::WebSocketSession>> openWebSocket(
      std::string_view routeId, const http::Request& request,
      std::shared_ptr<http::WebSocketPeer> peer) override {
    if (routeId != "agents.connect") return notFound("no WebSocket route " + std::string(routeId));
    return orchestrator_->remoteAgents().connect(std::move(peer), request.principal);
  }
  std::string openapiSchemas() override { return openapi::schemas(); }

 private:
  void addWrites();
  void addReads();
  http::Response create(const http::Request& r);
  http::Response list(const http::Request& r);
  // Agent {id} when the caller's tenant may see it: another tenant's is "not
  // found", as a missing one (docs/security.md, "Tenants").
  Result<Agent> visibleAgent(const http::Request& r) {
    auto agent = admin_.get(r.param("id"));
    if (agent.ok() && !orchestrator_->environment().scopeOf(r.principal).sees(agent->tenant))
      return notFound("no agent " + r.param("id"));
    return agent;
  }

  // Handlers block on storage: they run on the blocking executor, counted.
  void add(http::Route route, std::function<http::Response(const http::Request&)> handler) {
    table_.add(std::move(route), [this, handler = std::move(handler)](http::Request request,
                                                                      http::Responder respond) {
      orchestrator_->background().post([handler, request = std::move(request), respond = std::move(respond)] {
        respond(handler(request));
      });
    });
  }

  std::shared_ptr<Orchestrator> orchestrator_;
  AgentAdmin& admin_;
  http::RouteTable table_;
};

void AgentRoutes::addWrites() {
  add({"agents.create", "POST", "/api/v2/agents", "agents:write",
       openapi::agentOperation("Register a remote agent", "createAgent", PathId::kNone, Body::kAgentSpec,
                               201),
       64 * 1024},
      [this](const http::Request& r) { return create(r); });
  add({"agents.patch", "PATCH", "/api/v2/agents/{id}", "agents:write",
       openapi::agentOperation("Change an agent", "patchAgent", PathId::kId, Body::kAgentSpec, 200),
       64 * 1024},
      [this](const http::Request& r) {
        std::vector<http::FieldError> errors;
        auto spec = parseAgentSpec(r.body, SpecUse::kChange, errors);
        if (!spec.ok()) return invalid(spec.status(), errors);
        if (auto visible = visibleAgent(r); !visible.ok()) return http::problem(visible.status());
        return answer(admin_.patch(r.param("id"), *spec), renderAgent);
      });
  add({"agents.delete", "DELETE", "/api/v2/agents/{id}", "agents:write",
       openapi::agentOperation("Delete an agent", "deleteAgent", PathId::kId, Body::kNone, 204)},
      [this](const http::Request& r) {
        if (auto visible = visibleAgent(r); !visible.ok()) return http::problem(visible.status());
        Status removed = admin_.remove(r.param("id"));
        if (!removed.ok()) return http::problem(removed);
        http::Response response;
        response.status = 204;
        response.contentType.clear();
        return response;
      });
  add({"agents.drain", "POST", "/api/v2/agents/{id}/drain", "agents:write",
       openapi::agentOperation("Drain an agent: no new tasks", "drainAgent", PathId::kId, Body::kNone, 200)},
      [this](const http::Request& r) {
        if (auto visible = visibleAgent(r); !visible.ok()) return http::problem(visible.status());
        return answer(admin_.drain(r.param("id")), renderAgent);
      });
}

void AgentRoutes::addReads() {
  add({"agents.list", "GET", "/api/v2/agents", "agents:read", openapi::listAgentsOperation()},
      [this](const http::Request& r) { return list(r); });
  add({"agents.get", "GET", "/api/v2/agents/{id}", "agents:read",
       openapi::agentOperation("Get an agent", "getAgent", PathId::kId, Body::kNone, 200)},
      [this](const http::Request& r) { return answer(visibleAgent(r), renderAgent); });
  add({"coordination.status", "GET", "/api/v2/coordination/status", "agents:read",
       openapi::coordinationOperation()},
      [this](const http::Request& r) {
        // Every tenant's queues and agents: not for a named tenant's callers.
        if (auto scope = orchestrator_->environment().scopeOf(r.principal);
            !scope.allTenants && !scope.tenant.empty())
          return http::problem(403, "Forbidden",
                               "the coordination status spans every tenant; tenant '" + scope.tenant +
                                   "' lists its own agents with GET /api/v2/agents");
        return answer(admin_.coordinationStatus(), renderCoordination);
      });
}

http::Response AgentRoutes::create(const http::Request& r) {
  std::vector<http::FieldError> errors;
  auto spec = parseAgentSpec(r.body, SpecUse::kRegistration, errors);
  if (!spec.ok()) return invalid(spec.status(), errors);
  auto registered = admin_.registerAgent(*spec, orchestrator_->environment().tenantOf(r.principal));
  if (!registered.ok()) return http::problem(registered.status());
  auto response = json(201, renderRegistered(registered->agent, registered->secret));
  response.headers.push_back({"location", "/api/v2/agents/" + registered->agent.id});
  return response;
}

http::Response AgentRoutes::list(const http::Request& r) {
  const std::string* status = r.queryParam("status");
  const std::string* capability = r.queryParam("capability");
  const std::string* cursor = r.queryParam("cursor");
  std::vector<http::FieldError> errors;
  if (status && !parseAgentStatus(*status))
    errors.push_back({"status", "must be one of idle, busy, draining, offline, failed"});
  // The same paging as GET /api/v2/tasks: limit 1-1000 (100), cursor from next_cursor.
  std::size_t limit = plugin_common::pageLimit(r.queryParam("limit"), errors);
  if (!errors.empty()) return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
  auto page = admin_.list(status ? *status : "", capability ? *capability : "", limit, cursor ? *cursor : "");
  // Another tenant's agents are left out: a page may hold fewer than `limit`.
  if (tenancy::Scope scope = orchestrator_->environment().scopeOf(r.principal);
      page.ok() && !scope.allTenants)
    std::erase_if(page->items, [&](const Agent& a) { return !scope.sees(a.tenant); });
  return answer(page, renderAgentPage);
}

}  // namespace

std::shared_ptr<http::RouteProvider> makeAgentRoutes(std::shared_ptr<Orchestrator> orchestrator) {
  return std::make_shared<AgentRoutes>(std::move(orchestrator));
}

}  // namespace hive::orchestrator
