#include "agent_admin.hpp"

#include <algorithm>
#include <optional>

#include "agent_secret.hpp"
#include "dispatcher.hpp"
#include "render.hpp"

namespace hive::orchestrator {

Result<AgentAdmin::Registered> AgentAdmin::registerAgent(const AgentSpec& spec, const std::string& tenant) {
  if (!env_.store.lease()) return unavailable("storage is unavailable");
  HIVE_TRY(records_.reserve());
  Registered out;
  Agent& agent = out.agent;
  agent.id = newAgentId();
  agent.createdAtMs = agent.updatedAtMs = env_.now();
  apply(spec, agent);
  agent.runtime = Runtime::kRemote;
  agent.tenant = tenant;
  out.secret = newAgentSecret();
  agent.secretDigest = secretDigest(out.secret);
  registry_.refreshStatus(agent);
  if (Status created = records_.create(agent); !created.ok()) {
    records_.unregistered();
    return created;
  }
  return out;
}

Result<Agent> AgentAdmin::get(const std::string& id) {
  if (auto served = registry_.find(id)) return *std::move(served);
  auto stored = HIVE_TRY(records_.load(id));
  if (!stored) return notFound("no agent " + id);
  return *std::move(stored);
}

Result<AgentPage> AgentAdmin::list(const std::string& status, const std::string& capability,
                                   std::size_t limit, const std::string& cursor) {
  AgentPage stored = HIVE_TRY(records_.page(status, limit, cursor));
  AgentPage out;
  out.nextCursor = stored.nextCursor;
  for (auto& agent : stored.items) {
    if (auto served = registry_.find(agent.id)) agent = *std::move(served);
    if (!status.empty() && statusName(agent.status) != status) continue;
    if (!capability.empty() && std::find(agent.capabilities.begin(), agent.capabilities.end(), capability) ==
                                   agent.capabilities.end())
      continue;
    out.items.push_back(std::move(agent));
  }
  return out;
}

Result<Agent> AgentAdmin::patch(const std::string& id, const AgentSpec& spec) {
  auto current = HIVE_TRY(get(id));
  if (current.runtime == Runtime::kProcess && (spec.capabilities || spec.maxConcurrency))
    return failedPrecondition("process agents are configured in task_execution_engine's section");
  apply(spec, current);
  registry_.withLock([&](AgentTable& table) {
    if (auto found = table.byId.find(id); found != table.byId.end()) {
      apply(spec, found->second.agent);
      registry_.refreshStatus(found->second.agent);
      current = found->second.agent;
    }
  });
  records_.persist(current);
  dispatcher_.request();
  return current;
}

Status AgentAdmin::remove(const std::string& id) {
  auto current = HIVE_TRY(get(id));
  if (current.runtime == Runtime::kProcess)
    return failedPrecondition("process agents are configured in task_execution_engine's section");
  std::optional<LocalAgent> served = registry_.withLock([&](AgentTable& table) -> std::optional<LocalAgent> {
    auto found = table.byId.find(id);
    if (found == table.byId.end()) return std::nullopt;
    LocalAgent local = std::move(found->second);
    table.byId.erase(found);
    return local;
  });
  if (served) {
    if (served->peer) served->peer->close(1000, "agent deleted");
    dispatcher_.releaseAll(*served, "agent " + id + " was deleted");
  }
  return records_.remove(id);
}

Result<Agent> AgentAdmin::drain(const std::string& id) {
  auto current = HIVE_TRY(get(id));
  auto channel = registry_.withLock([&](AgentTable& table) -> std::shared_ptr<AgentChannel> {
    auto found = table.byId.find(id);
    if (found == table.byId.end()) {
      current.draining = true;
      registry_.refreshStatus(current);
      return nullptr;
    }
    found->second.agent.draining = true;
    registry_.refreshStatus(found->second.agent);
    current = found->second.agent;
    return found->second.channel;
  });
  if (channel) channel->sendOrClose(protocol::drain(env_.now()), env_.log());
  records_.persist(current);
  return current;
}

Result<CoordinationStatus> AgentAdmin::coordinationStatus() {
  auto tasks = env_.tasks.lease();
  if (!tasks) return unavailable("tasks are unavailable");
  auto depth = HIVE_TRY(tasks->depth());
  CoordinationStatus out;
  out.node = env_.options.node;
  for (auto& q : depth) out.queues.push_back({std::move(q.capabilities), std::move(q.byPriority)});
  for (auto s : {AgentStatus::kIdle, AgentStatus::kBusy, AgentStatus::kDraining, AgentStatus::kOffline,
                 AgentStatus::kFailed})
    out.agentsByStatus[s] = 0;
  // The registry is bounded (max_registered_agents), and so is this walk.
  std::string cursor;
  do {
    auto page = HIVE_TRY(list({}, {}, 1000, cursor));
    for (const auto& a : page.items) ++out.agentsByStatus[a.status];
    cursor = page.nextCursor;
  } while (!cursor.empty());
  registry_.withLock([&](AgentTable& table) {
    for (const auto& [id, local] : table.byId)
      for (const auto& [task, token] : local.agent.inFlight) out.inFlight.push_back({id, task});
  });
  return out;
}

}  // namespace hive::orchestrator
