// orchestrator: agents over REST and WebSocket, and the assignment of tasks
// from hive.tasks/1 to them.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>

#include <boost/json.hpp>

#include "hive/plugin.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tasks.hpp"
#include "orchestrator_core.hpp"
#include "plugin_common/page_limit.hpp"

namespace hive::orchestrator {
namespace {

http::Response json(int status, std::string body) {
  http::Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

const char* kAgentSchema =
    R"({"Agent": {"type": "object", "required": ["id", "name", "status"], "properties": {
  "id": {"type": "string"}, "name": {"type": "string"}, "role": {"type": "string"},
  "capabilities": {"type": "array", "items": {"type": "string"}},
  "runtime": {"type": "string", "enum": ["process", "remote"]},
  "max_concurrency": {"type": "integer"},
  "status": {"type": "string", "enum": ["idle", "busy", "draining", "offline", "failed"]},
  "draining": {"type": "boolean"}, "last_heartbeat_ms": {"type": "integer"}, "node": {"type": "string"},
  "circuit_breaker": {"type": "object", "properties": {"state": {"type": "string", "enum": ["closed", "open", "half_open"]},
    "consecutive_failures": {"type": "integer"}, "opened_at_ms": {"type": "integer"}}},
  "in_flight": {"type": "array", "items": {"type": "string"}},
  "succeeded": {"type": "integer"}, "failed": {"type": "integer"},
  "created_at_ms": {"type": "integer"}, "updated_at_ms": {"type": "integer"},
  "secret": {"type": "string", "description": "the reconnect secret, only in the 201 of POST /api/v2/agents"}}},
 "AgentSpec": {"type": "object", "additionalProperties": false, "properties": {
  "name": {"type": "string", "maxLength": 64}, "role": {"type": "string", "maxLength": 64},
  "capabilities": {"type": "array", "items": {"type": "string"}, "maxItems": 64},
  "max_concurrency": {"type": "integer", "minimum": 1, "maximum": 1024},
  "runtime": {"type": "string", "enum": ["remote"]}}}})";

std::string operation(const std::string& summary, const std::string& id, bool pathId, bool body, int ok,
                      bool returnsAgent = true) {
  std::string op = "{\"summary\":" + http::jsonQuote(summary) + ",\"operationId\":" + http::jsonQuote(id) +
                   ",\"tags\":[\"agents\"]";
  if (pathId)
    op +=
        ",\"parameters\":[{\"name\":\"id\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}"
        "}]";
  if (body)
    op +=
        ",\"requestBody\":{\"required\":true,\"content\":{\"application/json\":{\"schema\":"
        "{\"$ref\":\"#/components/schemas/AgentSpec\"}}}}";
  op += ",\"responses\":{\"" + std::to_string(ok) + "\":{\"description\":\"OK\"";
  if (returnsAgent && ok != 204)
    op += ",\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/Agent\"}}}";
  op +=
      "},\"404\":{\"description\":\"No such agent\",\"content\":{\"application/problem+json\":{}}}"
      ",\"422\":{\"description\":\"Invalid\",\"content\":{\"application/problem+json\":{}}}}}";
  return op;
}

class AgentRoutes final : public http::RouteProvider {
 public:
  explicit AgentRoutes(std::shared_ptr<Core> core) : core_(std::move(core)) {
    add({"agents.create", "POST", "/api/v2/agents", "agents:write",
         operation("Register a remote agent", "createAgent", false, true, 201), 64 * 1024},
        [this](const http::Request& r) {
          std::vector<http::FieldError> errors;
          auto spec = parseAgentSpec(r.body, false, errors);
          if (!spec.ok()) return invalid(spec.status(), errors);
          auto registered = core_->registerAgent(*spec);
          if (!registered.ok()) return http::problem(registered.status());
          // The one time the reconnect secret is shown: the agent's hello needs it.
          auto body = boost::json::parse(toJson(registered->agent)).as_object();
          body["secret"] = registered->secret;
          auto response = json(201, boost::json::serialize(body));
          response.headers.push_back({"location", "/api/v2/agents/" + registered->agent.id});
          return response;
        });
    add({"agents.list", "GET", "/api/v2/agents", "agents:read",
         "{\"summary\":\"List agents\",\"operationId\":\"listAgents\",\"tags\":[\"agents\"],\"parameters\":["
         "{\"name\":\"status\",\"in\":\"query\",\"schema\":{\"type\":\"string\"}},"
         "{\"name\":\"capability\",\"in\":\"query\",\"schema\":{\"type\":\"string\"}},"
         "{\"name\":\"limit\",\"in\":\"query\",\"schema\":{\"type\":\"integer\",\"minimum\":1,"
         "\"maximum\":1000,\"default\":100}},"
         "{\"name\":\"cursor\",\"in\":\"query\",\"schema\":{\"type\":\"string\"}}],"
         "\"responses\":{\"200\":{\"description\":\"Agents\",\"content\":{\"application/json\":{\"schema\":"
         "{\"type\":\"object\",\"properties\":{\"items\":{\"type\":\"array\",\"items\":"
         "{\"$ref\":\"#/components/schemas/Agent\"}},\"next_cursor\":{\"type\":\"string\"}}}}}}}}"},
        [this](const http::Request& r) {
          const std::string* status = r.queryParam("status");
          const std::string* capability = r.queryParam("capability");
          const std::string* cursor = r.queryParam("cursor");
          std::vector<http::FieldError> errors;
          if (status && !parseAgentStatus(*status))
            errors.push_back({"status", "must be one of idle, busy, draining, offline, failed"});
          // The same paging as GET /api/v2/tasks: limit 1-1000 (100), cursor from next_cursor.
          std::size_t limit = plugin_common::pageLimit(r.queryParam("limit"), errors);
          if (!errors.empty())
            return http::problem(422, "Unprocessable Content", "bad query", std::move(errors));
          auto page = core_->list(status ? *status : "", capability ? *capability : "", limit,
                                  cursor ? *cursor : std::string());
          if (!page.ok()) return http::problem(page.status());
          std::string body = "{\"items\":[";
          for (std::size_t i = 0; i < page->items.size(); ++i)
            body += (i ? "," : "") + toJson(page->items[i]);
          body += "]";
          if (!page->nextCursor.empty()) body += ",\"next_cursor\":" + http::jsonQuote(page->nextCursor);
          return json(200, body + "}");
        });
    add({"agents.get", "GET", "/api/v2/agents/{id}", "agents:read",
         operation("Get an agent", "getAgent", true, false, 200)},
        [this](const http::Request& r) {
          auto agent = core_->get(r.param("id"));
          return agent.ok() ? json(200, toJson(*agent)) : http::problem(agent.status());
        });
    add({"agents.patch", "PATCH", "/api/v2/agents/{id}", "agents:write",
         operation("Change an agent", "patchAgent", true, true, 200), 64 * 1024},
        [this](const http::Request& r) {
          std::vector<http::FieldError> errors;
          auto spec = parseAgentSpec(r.body, true, errors);
          if (!spec.ok()) return invalid(spec.status(), errors);
          auto agent = core_->patch(r.param("id"), *spec);
          return agent.ok() ? json(200, toJson(*agent)) : http::problem(agent.status());
        });
    add({"agents.delete", "DELETE", "/api/v2/agents/{id}", "agents:write",
         operation("Delete an agent", "deleteAgent", true, false, 204)},
        [this](const http::Request& r) {
          Status removed = core_->remove(r.param("id"));
          if (!removed.ok()) return http::problem(removed);
          http::Response response;
          response.status = 204;
          response.contentType.clear();
          return response;
        });
    add({"agents.drain", "POST", "/api/v2/agents/{id}/drain", "agents:write",
         operation("Drain an agent: no new tasks", "drainAgent", true, false, 200)},
        [this](const http::Request& r) {
          auto agent = core_->drain(r.param("id"));
          return agent.ok() ? json(200, toJson(*agent)) : http::problem(agent.status());
        });
    add({"coordination.status", "GET", "/api/v2/coordination/status", "agents:read",
         "{\"summary\":\"Queue depth, agents by status, in-flight assignments\",\"operationId\":"
         "\"coordinationStatus\",\"tags\":[\"agents\"],\"responses\":{\"200\":{\"description\":\"Status\","
         "\"content\":{\"application/json\":{}}}}}"},
        [this](const http::Request&) {
          auto status = core_->coordinationStatus();
          return status.ok() ? json(200, *status) : http::problem(status.status());
        });
  }

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
      std::string_view routeId, const http::Request&, std::shared_ptr<http::WebSocketPeer> peer) override {
    if (routeId != "agents.connect") return notFound("no WebSocket route " + std::string(routeId));
    return core_->connect(std::move(peer));
  }
  std::string openapiSchemas() override { return kAgentSchema; }

 private:
  static http::Response invalid(const Status& status, std::vector<http::FieldError>& errors) {
    if (errors.empty()) return http::problem(400, "Bad Request", status.message());
    return http::problem(422, "Unprocessable Content", status.message(), std::move(errors));
  }

  void add(http::Route route, std::function<http::Response(const http::Request&)> handler) {
    table_.add(std::move(route),
               [this, handler = std::move(handler)](http::Request request, http::Responder respond) {
                 core_->background([handler, request = std::move(request), respond = std::move(respond)] {
                   respond(handler(request));
                 });
               });
  }

  std::shared_ptr<Core> core_;
  http::RouteTable table_;
};

class OrchestratorPlugin final : public Plugin {
 public:
  explicit OrchestratorPlugin(PluginContext& context) : context_(context) {}

  void configure(const ConfigNode& section, Diagnostics& diagnostics) override {
    ConfigReader reader(section, diagnostics);
    Options o;
    o.heartbeatInterval = reader.get<std::chrono::milliseconds>("heartbeat_interval", o.heartbeatInterval);
    o.missedHeartbeats = static_cast<std::uint32_t>(reader.get<std::int64_t>("missed_heartbeats", 3));
    o.failureThreshold = static_cast<std::uint32_t>(reader.get<std::int64_t>("failure_threshold", 3));
    o.openFor = reader.get<std::chrono::milliseconds>("open_for", o.openFor);
    o.sweepPeriod = reader.get<std::chrono::milliseconds>("sweep_period", o.sweepPeriod);
    o.maxAgents = static_cast<std::size_t>(reader.get<std::int64_t>("max_agents", 10000));
    std::int64_t maxRegistered = reader.get<std::int64_t>("max_registered_agents", 100000);
    o.agentRetention = reader.get<std::chrono::milliseconds>("agent_retention", o.agentRetention);
    o.claimWindow = reader.get<std::chrono::milliseconds>("claim_window", o.claimWindow);
    std::int64_t maxUnacknowledged = reader.get<std::int64_t>("max_unacknowledged", 16);
    std::int64_t maxBacklog = reader.get<std::int64_t>("max_backlog", 4096);
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    o.node = reader.get<std::string>("node", host[0] != '\0' ? std::string(host) : "node");
    bool nodeOk = !o.node.empty() && o.node.size() <= 64;
    for (char c : o.node)
      nodeOk = nodeOk && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                          c == '-' || c == '_' || c == '.');
    if (!nodeOk) reader.reject("node", "must be 1-64 characters of letters, digits, '-', '_', '.'");
    if (o.heartbeatInterval.count() < 100) reader.reject("heartbeat_interval", "must be at least 100ms");
    if (o.missedHeartbeats < 1 || o.missedHeartbeats > 100)
      reader.reject("missed_heartbeats", "must be 1-100");
    if (o.failureThreshold < 1 || o.failureThreshold > 1000)
      reader.reject("failure_threshold", "must be 1-1000");
    if (o.openFor.count() < 1) reader.reject("open_for", "must be at least 1ms");
    if (o.sweepPeriod.count() < 10) reader.reject("sweep_period", "must be at least 10ms");
    if (o.maxAgents < 1) reader.reject("max_agents", "must be at least 1");
    if (maxRegistered < 1 || maxRegistered > 10'000'000)
      reader.reject("max_registered_agents", "must be 1-10000000");
    else
      o.maxRegisteredAgents = static_cast<std::size_t>(maxRegistered);
    if (o.agentRetention.count() < 100) reader.reject("agent_retention", "must be at least 100ms");
    if (o.claimWindow.count() < 10 || o.claimWindow > std::chrono::hours(1))
      reader.reject("claim_window", "must be between 10ms and 1h");
    if (maxUnacknowledged < 1 || maxUnacknowledged > 1024)
      reader.reject("max_unacknowledged", "must be 1-1024");
    else
      o.maxUnacknowledged = static_cast<std::size_t>(maxUnacknowledged);
    if (maxBacklog < 1 || maxBacklog > 1'000'000)
      reader.reject("max_backlog", "must be 1-1000000");
    else
      o.maxBacklog = static_cast<std::size_t>(maxBacklog);
    reader.finish();
    options_ = o;
  }

  Status start() override {
    auto tasks =
        HIVE_TRY(context_.services().handle<tasks::TaskService>(), "orchestrator needs hive.tasks/1");
    auto store = HIVE_TRY(context_.services().handle<store::Store>(), "orchestrator needs hive.store/1");
    core_ = std::make_shared<Core>(context_, std::move(tasks), std::move(store), options_);
    HIVE_TRY(core_->open());
    HIVE_TRY(context_.services().provide<http::RouteProvider>(std::make_shared<AgentRoutes>(core_)));
    sweeper_ = context_.timers().every(options_.sweepPeriod, [this] {
      if (sweepQueued_.exchange(true)) return;
      core_->background([this] {
        core_->sweep();
        sweepQueued_ = false;
      });
    });
    context_.log().info("started on node " + options_.node);
    return okStatus();
  }

  void stop() override {
    sweeper_.reset();
    if (core_) core_->close();
  }

  Status health() override { return core_ ? okStatus() : unavailable("not started"); }
  bool drained() const override { return !core_ || core_->idle(); }

 private:
  PluginContext& context_;
  Options options_;
  std::shared_ptr<Core> core_;
  std::atomic<bool> sweepQueued_{false};
  std::unique_ptr<Timer> sweeper_;
};

}  // namespace
}  // namespace hive::orchestrator

HIVE_PLUGIN(hive::orchestrator::OrchestratorPlugin, .name = "orchestrator", .version = "1.0.0",
            .description = "Agents (remote over WebSocket, process via hive.executor/1) and task assignment",
            .provides = {hive::http::RouteProvider::kServiceId},
            .requiredServices = {hive::tasks::TaskService::kServiceId, hive::store::Store::kServiceId})
