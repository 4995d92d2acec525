#include "health.hpp"

#include "agent_metrics.hpp"
#include "dispatcher.hpp"

namespace hive::orchestrator {

namespace breaker {

std::size_t capacity(Agent& a, std::int64_t now, std::chrono::milliseconds openFor) {
  if (a.circuit == Circuit::kOpen) {
    if (now - a.circuitOpenedMs < openFor.count()) return 0;
    a.circuit = Circuit::kHalfOpen;
  }
  return a.circuit == Circuit::kHalfOpen ? 1 : a.maxConcurrency;
}

void succeeded(Agent& a) {
  ++a.succeeded;
  a.consecutiveFailures = 0;
  a.circuit = Circuit::kClosed;
}

Change failed(Agent& a, std::uint32_t threshold, std::int64_t now) {
  ++a.failed;
  ++a.consecutiveFailures;
  if (a.circuit != Circuit::kHalfOpen && a.consecutiveFailures < threshold) return Change::kNone;
  Change change = a.circuit != Circuit::kOpen ? Change::kOpened : Change::kNone;
  a.circuit = Circuit::kOpen;
  a.circuitOpenedMs = now;
  return change;
}

}  // namespace breaker

struct HealthMonitor::Findings {
  std::vector<std::shared_ptr<http::WebSocketPeer>> toClose;  // missed their heartbeats
  std::vector<LocalAgent> gone;                               // offline now
  std::vector<Agent> changed;                                 // breaker half-open
  std::vector<std::shared_ptr<AgentChannel>> flushing;        // congested
};

HealthMonitor::Findings HealthMonitor::inspect(std::int64_t now) {
  const std::int64_t silence = env_.options.silenceMs();
  Findings f;
  registry_.withLock([&](AgentTable& table) {
    for (auto it = table.byId.begin(); it != table.byId.end();) {
      LocalAgent& local = it->second;
      Agent& a = local.agent;
      std::string why;
      if (a.runtime == Runtime::kRemote && local.peer && now - a.lastHeartbeatMs > silence) {
        why = "agent " + a.id + " missed " + std::to_string(env_.options.missedHeartbeats) + " heartbeats";
        f.toClose.push_back(local.peer);
      } else if (a.runtime == Runtime::kRemote && !local.peer && now - local.disconnectedAtMs > silence) {
        why = "agent " + a.id + " did not come back within " + std::to_string(silence) + " ms";
      }
      if (!why.empty()) {
        env_.log().warn(why + ": it is offline, its tasks go back to the queue");
        local.peer.reset();
        local.channel.reset();
        a.node.clear();
        a.status = AgentStatus::kOffline;
        f.gone.push_back(std::move(local));
        it = table.byId.erase(it);
        continue;
      }
      // A congested agent that sends nothing is given its backlog here.
      if (local.channel && local.channel->congested()) f.flushing.push_back(local.channel);
      if (a.circuit == Circuit::kOpen && now - a.circuitOpenedMs >= env_.options.openFor.count()) {
        a.circuit = Circuit::kHalfOpen;
        registry_.refreshStatus(a);
        f.changed.push_back(a);
      }
      ++it;
    }
  });
  return f;
}

void HealthMonitor::check(std::int64_t now) {
  Findings f = inspect(now);
  for (auto& peer : f.toClose) peer->close(4000, "heartbeats missed");
  for (auto& channel : f.flushing) (void)channel->flush();  // the dispatch after the sweep follows
  if (!f.gone.empty()) metrics::countWentOffline(env_.context.metrics(), f.gone.size());
  for (auto& local : f.gone) {
    dispatcher_.releaseAll(local, "agent " + local.agent.id + " went offline");
    registry_.refreshStatus(local.agent);
    records_.persist(local.agent);
  }
  for (auto& agent : f.changed) records_.persist(agent);
  records_.persistUnsaved();
  expireClaims(now);
  metrics::recordAgents(env_.context.metrics(), registry_);
}

void HealthMonitor::heartbeat(const std::string& agentId) {
  std::int64_t now = env_.now();
  registry_.withLock([&](AgentTable& table) {
    if (auto found = table.byId.find(agentId); found != table.byId.end())
      found->second.agent.lastHeartbeatMs = now;
  });
}

void HealthMonitor::expireClaims(std::int64_t now) {
  std::vector<std::pair<std::string, Leases>> expired;  // agent, its tasks
  std::vector<Agent> changed;
  registry_.withLock([&](AgentTable& table) {
    for (auto& [id, local] : table.byId) {
      Leases late;
      for (auto it = local.unacknowledged.begin(); it != local.unacknowledged.end();) {
        auto leased = local.agent.inFlight.find(it->first);
        if (it->second > now && leased != local.agent.inFlight.end()) {
          ++it;
          continue;
        }
        if (leased != local.agent.inFlight.end()) {
          late.emplace_back(it->first, leased->second);
          local.agent.inFlight.erase(leased);
        }
        it = local.unacknowledged.erase(it);
      }
      if (late.empty()) continue;
      local.assignments = Assignments::kHeld;
      registry_.refreshStatus(local.agent);
      changed.push_back(local.agent);
      expired.emplace_back(id, std::move(late));
    }
  });
  for (auto& [agentId, leases] : expired) {
    env_.log().warn("agent " + agentId + " did not answer " + std::to_string(leases.size()) +
                    " assignment(s) within the claim window: they go back to the queue, and it gets "
                    "no more until it answers");
    dispatcher_.release(leases, "agent " + agentId + " did not accept the task within the claim window (" +
                                    durationText(env_.options.claimWindow) + ")");
  }
  for (auto& agent : changed) records_.persist(agent);
}

}  // namespace hive::orchestrator
