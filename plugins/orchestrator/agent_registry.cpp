#include "agent_registry.hpp"

namespace hive::orchestrator {

std::optional<Agent> AgentRegistry::find(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto found = table_.byId.find(id);
  if (found == table_.byId.end()) return std::nullopt;
  return found->second.agent;
}

bool AgentRegistry::serves(const std::string& id) {
  std::lock_guard lock(mutex_);
  return table_.byId.count(id) != 0;
}

std::vector<Agent> AgentRegistry::takeUnsaved() {
  std::vector<Agent> agents;
  std::lock_guard lock(mutex_);
  for (const auto& id : table_.unsaved)
    if (auto found = table_.byId.find(id); found != table_.byId.end()) agents.push_back(found->second.agent);
  table_.unsaved.clear();
  return agents;
}

std::optional<Agent> AgentRegistry::takeUnsaved(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto found = table_.byId.find(id);
  if (found == table_.byId.end()) return std::nullopt;
  table_.unsaved.erase(id);
  return found->second.agent;
}

void AgentRegistry::refreshStatus(Agent& agent) const {
  if (agent.runtime == Runtime::kRemote && agent.node.empty()) {
    agent.status = AgentStatus::kOffline;
  } else if (agent.circuit == Circuit::kOpen) {
    agent.status = AgentStatus::kFailed;
  } else if (agent.draining) {
    agent.status = AgentStatus::kDraining;
  } else {
    agent.status = agent.inFlight.empty() ? AgentStatus::kIdle : AgentStatus::kBusy;
  }
  agent.updatedAtMs = clock_.nowMs();
}

Leases AgentRegistry::takeUnacknowledged(LocalAgent& local) {
  Leases out;
  for (const auto& [task, deadline] : local.unacknowledged) {
    auto leased = local.agent.inFlight.find(task);
    if (leased == local.agent.inFlight.end()) continue;
    out.emplace_back(task, leased->second);
    local.agent.inFlight.erase(leased);
  }
  local.unacknowledged.clear();
  return out;
}

}  // namespace hive::orchestrator
