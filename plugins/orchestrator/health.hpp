// Agent health: heartbeats (a remote agent silent for missed_heartbeats ×
// heartbeat_interval, connected or not, goes offline and its tasks go back to
// the queue), claim windows (an assignment not answered in time goes back and
// the agent is held until it answers), and a circuit breaker per agent
// (failure_threshold consecutive failures open it; after open_for it lets one
// probe task through, half-open; a success closes it).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "agent_records.hpp"
#include "agent_registry.hpp"
#include "environment.hpp"

namespace hive::orchestrator {

class Dispatcher;

// The breaker's rules, applied to an agent's record under the registry's lock.
namespace breaker {

// How many tasks the agent may hold now: none while open, one probe when
// half-open (an open breaker past `openFor` becomes half-open here), else
// max_concurrency.
std::size_t capacity(Agent& agent, std::int64_t now, std::chrono::milliseconds openFor);
void succeeded(Agent& agent);
enum class Change { kNone, kOpened };
// kOpened when this failure opened the breaker.
Change failed(Agent& agent, std::uint32_t threshold, std::int64_t now);

}  // namespace breaker

class HealthMonitor {
 public:
  HealthMonitor(Environment& environment, AgentRegistry& registry, AgentRecords& records,
                Dispatcher& dispatcher)
      : env_(environment), registry_(registry), records_(records), dispatcher_(dispatcher) {}

  // Heartbeats and breakers of every agent; congested agents get their
  // backlog sent. Then claim windows.
  void check(std::int64_t now);
  // A heartbeat from a remote agent.
  void heartbeat(const std::string& agentId);

 private:
  struct Findings;
  Findings inspect(std::int64_t now);
  void expireClaims(std::int64_t now);

  Environment& env_;
  AgentRegistry& registry_;
  AgentRecords& records_;
  Dispatcher& dispatcher_;
};

}  // namespace hive::orchestrator
