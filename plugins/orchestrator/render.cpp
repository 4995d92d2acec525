#include "render.hpp"

#include <boost/json.hpp>

#include "plugin_common/json_text.hpp"

namespace hive::orchestrator {
namespace json = boost::json;
namespace {

json::object agentObject(const Agent& a) {
  json::array capabilities;
  for (const auto& c : a.capabilities) capabilities.emplace_back(c);
  json::array inFlight;
  for (const auto& [task, token] : a.inFlight) inFlight.emplace_back(task);
  json::object o{{"id", a.id},
                 {"name", a.name},
                 {"role", a.role},
                 {"capabilities", std::move(capabilities)},
                 {"runtime", runtimeName(a.runtime)},
                 {"max_concurrency", a.maxConcurrency},
                 {"status", statusName(a.status)},
                 {"draining", a.draining},
                 {"last_heartbeat_ms", a.lastHeartbeatMs},
                 {"node", a.node},
                 {"circuit_breaker", json::object{{"state", circuitName(a.circuit)},
                                                  {"consecutive_failures", a.consecutiveFailures},
                                                  {"opened_at_ms", a.circuitOpenedMs}}},
                 {"in_flight", std::move(inFlight)},
                 {"succeeded", a.succeeded},
                 {"failed", a.failed},
                 {"created_at_ms", a.createdAtMs},
                 {"updated_at_ms", a.updatedAtMs}};
  if (!a.tenant.empty()) o["tenant"] = a.tenant;
  return o;
}

std::string message(std::string_view type, std::int64_t ts, json::object fields = {}) {
  fields["type"] = type;
  fields["ts"] = ts;
  return json::serialize(fields);
}

std::string_view reportName(protocol::Report report) {
  switch (report) {
    case protocol::Report::kAccept: return "accept";
    case protocol::Report::kProgress: return "progress";
    case protocol::Report::kResult: return "result";
  }
  return "result";
}

json::value parsed(std::string_view text) { return json::parse(text); }

}  // namespace

std::string renderAgent(const Agent& agent) { return json::serialize(agentObject(agent)); }

std::string renderStoredAgent(const Agent& agent) {
  json::object o = agentObject(agent);
  o["secret_sha256"] = agent.secretDigest;
  return json::serialize(o);
}

std::string renderRegistered(const Agent& agent, const std::string& secret) {
  json::object o = agentObject(agent);
  o["secret"] = secret;
  return json::serialize(o);
}

std::string renderAgentPage(const AgentPage& page) {
  json::array items;
  for (const auto& agent : page.items) items.push_back(agentObject(agent));
  json::object body{{"items", std::move(items)}};
  if (!page.nextCursor.empty()) body["next_cursor"] = page.nextCursor;
  return json::serialize(body);
}

std::string renderCoordination(const CoordinationStatus& status) {
  json::array queues;
  std::uint64_t waiting = 0;
  for (const auto& q : status.queues) {
    json::object byPriority;
    std::uint64_t total = 0;
    for (const auto& [priority, count] : q.byPriority) {
      byPriority[std::to_string(priority)] = count;
      total += count;
    }
    waiting += total;
    queues.push_back(json::object{
        {"capabilities", q.capabilities}, {"waiting", total}, {"by_priority", std::move(byPriority)}});
  }
  json::object byStatus;
  for (const auto& [agentStatus, count] : status.agentsByStatus) byStatus[statusName(agentStatus)] = count;
  json::array inFlight;
  for (const auto& held : status.inFlight)
    inFlight.push_back(json::object{{"agent", held.agentId}, {"task", held.taskId}});
  json::object out{{"node", status.node},
                   {"queue", json::object{{"waiting", waiting}, {"queues", std::move(queues)}}},
                   {"agents_by_status", std::move(byStatus)},
                   {"in_flight", std::move(inFlight)}};
  return json::serialize(out);
}

namespace protocol {

std::string welcome(const Welcome& w, std::int64_t ts) {
  json::object fields{{"agent_id", w.agentId},
                      {"heartbeat_interval_ms", w.heartbeatIntervalMs},
                      {"claim_window_ms", w.claimWindowMs},
                      {"node", w.node}};
  if (!w.secret.empty()) fields["secret"] = w.secret;
  return message("welcome", ts, std::move(fields));
}

std::string error(std::string_view text, std::string_view reason, std::int64_t ts) {
  json::object fields{{"message", text}};
  if (!reason.empty()) fields["reason"] = reason;
  return message("error", ts, std::move(fields));
}

std::string ack(const Ack& a, std::int64_t ts) {
  json::object fields{
      {"task_id", a.taskId}, {"report", reportName(a.report)}, {"accepted", a.verdict != Verdict::kRefused}};
  // The same result again for the same lease (sent again after a reconnect
  // because its ack was lost): it was accepted the first time.
  if (a.verdict == Verdict::kDuplicate) fields["duplicate"] = true;
  if (a.verdict == Verdict::kRefused) fields["reason"] = a.reason;
  return message("task.ack", ts, std::move(fields));
}

std::string heartbeatAck(std::int64_t ts) { return message("heartbeat.ack", ts); }

std::string assign(const tasks::Assignment& a, std::int64_t ts) {
  return plugin_common::withRawMembers(
      message("task.assign", ts,
              {{"lease_token", a.leaseToken}, {"attempt", a.attempt}, {"deadline_ms", a.leaseExpiresMs}}),
      {{"task", a.taskJson}});
}

std::string cancel(const std::string& taskId, const std::string& leaseToken, std::int64_t ts) {
  return message("task.cancel", ts, {{"task_id", taskId}, {"lease_token", leaseToken}});
}

std::string drain(std::int64_t ts) { return message("drain", ts); }

}  // namespace protocol

namespace openapi {

std::string agentOperation(std::string_view summary, std::string_view operationId, PathId pathId, Body body,
                           int okStatus) {
  json::object op{{"summary", summary}, {"operationId", operationId}, {"tags", json::array{"agents"}}};
  if (pathId == PathId::kId)
    op["parameters"] = json::array{
        json::object{{"name", "id"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}}};
  if (body == Body::kAgentSpec)
    op["requestBody"] = parsed(
        R"({"required":true,"content":{"application/json":{"schema":{"$ref":"#/components/schemas/AgentSpec"}}}})");
  json::object ok{{"description", "OK"}};
  if (okStatus != 204)
    ok["content"] = parsed(R"({"application/json":{"schema":{"$ref":"#/components/schemas/Agent"}}})");
  json::object responses{{std::to_string(okStatus), std::move(ok)}};
  responses["404"] = parsed(R"({"description":"No such agent","content":{"application/problem+json":{}}})");
  responses["422"] = parsed(R"({"description":"Invalid","content":{"application/problem+json":{}}})");
  op["responses"] = std::move(responses);
  return json::serialize(op);
}

std::string listAgentsOperation() {
  return json::serialize(parsed(R"({"summary":"List agents","operationId":"listAgents","tags":["agents"],
  "parameters":[{"name":"status","in":"query","schema":{"type":"string"}},
    {"name":"capability","in":"query","schema":{"type":"string"}},
    {"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":1000,"default":100}},
    {"name":"cursor","in":"query","schema":{"type":"string"}}],
  "responses":{"200":{"description":"Agents","content":{"application/json":{"schema":{"type":"object",
    "properties":{"items":{"type":"array","items":{"$ref":"#/components/schemas/Agent"}},
    "next_cursor":{"type":"string"}}}}}}}})"));
}

std::string coordinationOperation() {
  return json::serialize(parsed(R"({"summary":"Queue depth, agents by status, in-flight assignments",
  "operationId":"coordinationStatus","tags":["agents"],
  "responses":{"200":{"description":"Status","content":{"application/json":{}}}}})"));
}

std::string schemas() {
  return json::serialize(
      parsed(R"({"Agent": {"type": "object", "required": ["id", "name", "status"], "properties": {
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
  "tenant": {"type": "string", "description": "the tenant whose tasks it runs (that of the key that registered it); absent for the default tenant"},
  "secret": {"type": "string", "description": "the reconnect secret, only in the 201 of POST /api/v2/agents"}}},
 "AgentSpec": {"type": "object", "additionalProperties": false, "properties": {
  "name": {"type": "string", "maxLength": 64}, "role": {"type": "string", "maxLength": 64},
  "capabilities": {"type": "array", "items": {"type": "string"}, "maxItems": 64},
  "max_concurrency": {"type": "integer", "minimum": 1, "maximum": 1024},
  "runtime": {"type": "string", "enum": ["remote"]}}}})"));
}

}  // namespace openapi

}  // namespace hive::orchestrator
