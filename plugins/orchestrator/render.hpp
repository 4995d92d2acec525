// Every JSON text the orchestrator writes, in one place (Boost.JSON): agents
// for the API and for the store, pages, the coordination status, the
// agent-protocol messages (docs/agent-protocol.md) and its OpenAPI fragments.
// The classes that decide return values; these functions only render them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "agent_model.hpp"
#include "hive/services/tasks.hpp"

namespace hive::orchestrator {

// The API form (no secret digest) and the stored form (everything).
std::string renderAgent(const Agent& agent);
std::string renderStoredAgent(const Agent& agent);
// The 201 of POST /api/v2/agents: the one time the reconnect secret is shown.
std::string renderRegistered(const Agent& agent, const std::string& secret);
std::string renderAgentPage(const AgentPage& page);
std::string renderCoordination(const CoordinationStatus& status);

// What the agent-protocol messages carry; `ts` is the sender's clock (epoch ms).
namespace protocol {

struct Welcome {
  std::string agentId;
  std::string secret;  // only for a newly registered agent
  std::int64_t heartbeatIntervalMs = 0;
  std::int64_t claimWindowMs = 0;
  std::string node;
};

// What an agent's report was answered.
enum class Report { kAccept, kProgress, kResult };
enum class Verdict { kAccepted, kDuplicate, kRefused };
struct Ack {
  std::string taskId;
  Report report = Report::kResult;
  Verdict verdict = Verdict::kAccepted;
  std::string reason;  // when refused
};

std::string welcome(const Welcome& welcome, std::int64_t ts);
// `reason` (bad_secret, unknown_agent, full, invalid_hello, unavailable) only
// for a refused hello.
std::string error(std::string_view message, std::string_view reason, std::int64_t ts);
std::string ack(const Ack& ack, std::int64_t ts);
std::string heartbeatAck(std::int64_t ts);
// The task as task_manager wrote it is spliced in, not re-serialised: the agent
// gets the payload byte for byte as the client sent it.
std::string assign(const tasks::Assignment& assignment, std::int64_t ts);
std::string cancel(const std::string& taskId, const std::string& leaseToken, std::int64_t ts);
std::string drain(std::int64_t ts);

}  // namespace protocol

// OpenAPI: the operation objects of the agent routes and the schemas.
namespace openapi {

enum class PathId { kNone, kId };
enum class Body { kNone, kAgentSpec };
std::string agentOperation(std::string_view summary, std::string_view operationId, PathId pathId, Body body,
                           int okStatus);
std::string listAgentsOperation();
std::string coordinationOperation();
std::string schemas();

}  // namespace openapi

}  // namespace hive::orchestrator
