// An agent as the orchestrator keeps it, stores it and shows it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hive/services/http.hpp"
#include "hive/status.hpp"
#include "plugin_common/clock_ids.hpp"

namespace hive::orchestrator {

enum class AgentStatus { kIdle, kBusy, kDraining, kOffline, kFailed };
enum class Runtime { kProcess, kRemote };
enum class Circuit { kClosed, kOpen, kHalfOpen };

std::string_view statusName(AgentStatus status);
std::optional<AgentStatus> parseAgentStatus(std::string_view name);
std::string_view runtimeName(Runtime runtime);
std::string_view circuitName(Circuit circuit);

struct Agent {
  std::string id;
  std::string name;
  std::string role;
  std::vector<std::string> capabilities;  // sorted, unique
  // The tenant whose tasks it runs ("" the default tenant): that of the key
  // that registered it (hive.tenancy/1), or a process agent's `tenant`.
  std::string tenant;
  Runtime runtime = Runtime::kRemote;
  std::uint32_t maxConcurrency = 1;
  AgentStatus status = AgentStatus::kOffline;
  bool draining = false;
  std::int64_t lastHeartbeatMs = 0;
  std::string node;  // the hive process it is connected to
  Circuit circuit = Circuit::kClosed;
  std::uint32_t consecutiveFailures = 0;
  std::int64_t circuitOpenedMs = 0;
  std::map<std::string, std::string> inFlight;  // task id → lease token
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;
  std::int64_t createdAtMs = 0;
  std::int64_t updatedAtMs = 0;
  // SHA-256 (hex) of the reconnect secret (agent_secret.hpp). Stored, never
  // shown by the API; empty for process agents.
  std::string secretDigest;
};

// The capabilities it claims tasks with: its own and, for a named tenant's
// agent, "tenant:<name>", which only that tenant's tasks require
// (task_manager keeps them in queues of their own).
std::vector<std::string> claimCapabilities(const Agent& agent);

// Fields a client may set (POST, PATCH, WebSocket hello); checked, errors collected.
struct AgentSpec {
  std::optional<std::string> name;
  std::optional<std::string> role;
  std::optional<std::vector<std::string>> capabilities;
  std::optional<std::uint32_t> maxConcurrency;
  std::optional<Runtime> runtime;
};
// A registration (POST, hello) needs a name; a change (PATCH) needs nothing.
enum class SpecUse { kRegistration, kChange };
Result<AgentSpec> parseAgentSpec(std::string_view body, SpecUse use, std::vector<http::FieldError>& errors);
void apply(const AgentSpec& spec, Agent& agent);

// Reads the stored form (render.hpp writes it).
Result<Agent> fromStoredJson(std::string_view body);

// A new, time-ordered agent id: "a" + 12 hex digits of epoch ms + 8 random hex.
inline std::string newAgentId() { return plugin_common::timeOrderedId('a'); }

struct AgentPage {
  std::vector<Agent> items;
  std::string nextCursor;  // empty on the last page
};

// GET /api/v2/coordination/status: queue depth, agents by status, who holds what.
struct CoordinationStatus {
  struct Queue {
    std::string capabilities;
    std::map<int, std::uint64_t> byPriority;
  };
  struct Holding {
    std::string agentId;
    std::string taskId;
  };
  std::string node;
  std::vector<Queue> queues;
  std::map<AgentStatus, std::uint64_t> agentsByStatus;  // every status, zeros included
  std::vector<Holding> inFlight;
};

}  // namespace hive::orchestrator
