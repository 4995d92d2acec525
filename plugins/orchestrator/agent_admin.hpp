// What the REST routes do with agents: register, read, list, change, delete,
// drain, and the coordination status. An agent this node serves is shown as
// it is in memory (its in-flight tasks, its breaker now); any other as stored.
#pragma once

#include <string>

#include "agent_model.hpp"
#include "agent_records.hpp"
#include "agent_registry.hpp"
#include "environment.hpp"

namespace hive::orchestrator {

class Dispatcher;

class AgentAdmin {
 public:
  AgentAdmin(Environment& environment, AgentRegistry& registry, AgentRecords& records, Dispatcher& dispatcher)
      : env_(environment), registry_(registry), records_(records), dispatcher_(dispatcher) {}

  struct Registered {
    Agent agent;
    std::string secret;  // the reconnect secret: shown once, in the 201
  };
  Result<Registered> registerAgent(const AgentSpec& spec, const std::string& tenant = {});
  Result<Agent> get(const std::string& id);
  // One page in id order, `limit` 1..1000. The `capability` filter applies
  // within the page, so a page may hold fewer than `limit` agents: follow
  // nextCursor until it is empty.
  Result<AgentPage> list(const std::string& status, const std::string& capability, std::size_t limit,
                         const std::string& cursor);
  Result<Agent> patch(const std::string& id, const AgentSpec& spec);
  Status remove(const std::string& id);
  // No new tasks for the agent; a connected remote agent is told (drain).
  Result<Agent> drain(const std::string& id);
  Result<CoordinationStatus> coordinationStatus();

 private:
  Environment& env_;
  AgentRegistry& registry_;
  AgentRecords& records_;
  Dispatcher& dispatcher_;
};

}  // namespace hive::orchestrator
