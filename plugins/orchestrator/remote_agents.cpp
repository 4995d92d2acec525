#include "remote_agents.hpp"

#include <optional>

#include "agent_secret.hpp"
#include "agent_session.hpp"
#include "dispatcher.hpp"

namespace hive::orchestrator {
namespace {

Status refused(std::string why) { return Status(StatusCode::kPermissionDenied, std::move(why)); }

}  // namespace

Result<std::shared_ptr<http::WebSocketSession>> RemoteAgents::connect(
    std::shared_ptr<http::WebSocketPeer> peer, std::string principal) {
  std::lock_guard lock(sessionsMutex_);
  if (refusing_)
    return unavailable("this orchestrator generation hands its agents over to the next: reconnect");
  auto session = std::make_shared<AgentSession>(*this, peer, std::move(principal));
  sessions_.emplace(session.get(), std::move(peer));
  return std::shared_ptr<http::WebSocketSession>(std::move(session));
}

void RemoteAgents::sessionEnded(const AgentSession* session) {
  {
    std::lock_guard lock(sessionsMutex_);
    sessions_.erase(session);
  }
  sessionsEnded_.notify_all();
}

bool RemoteAgents::handOver(std::chrono::milliseconds wait) {
  auto started = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<http::WebSocketPeer>> peers;
  {
    std::lock_guard lock(sessionsMutex_);
    refusing_ = true;
    for (const auto& [session, peer] : sessions_) peers.push_back(peer);
  }
  for (auto& peer : peers) peer->close(1001, "orchestrator replaced; reconnect");
  std::unique_lock lock(sessionsMutex_);
  bool ended = sessionsEnded_.wait_until(lock, started + wait, [&] { return sessions_.empty(); });
  std::size_t open = sessions_.size();
  lock.unlock();
  // Written now, before the next generation starts: its records of the agents
  // that come back are then the last ones written.
  disconnectAll();
  auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  env_.log().info("handed " + std::to_string(peers.size()) +
                  " agent connection(s) over to the next generation in " + std::to_string(took.count()) +
                  " ms" + (ended ? "" : "; " + std::to_string(open) + " still open"));
  return ended;
}

void RemoteAgents::disconnectAll() {
  std::int64_t now = env_.now();
  std::vector<Agent> snapshots;
  std::vector<std::pair<std::string, Leases>> unanswered;
  registry_.withLock([&](AgentTable& table) {
    for (auto& [id, local] : table.byId) {
      if (!local.peer) continue;
      unanswered.emplace_back(id, AgentRegistry::takeUnacknowledged(local));
      local.peer.reset();
      local.channel.reset();
      local.disconnectedAtMs = now;
      local.agent.node.clear();
      registry_.refreshStatus(local.agent);
      table.unsaved.erase(id);  // written below, counters included
      snapshots.push_back(local.agent);
    }
  });
  for (const auto& [id, leases] : unanswered)
    dispatcher_.release(leases, "agent " + id + " disconnected before accepting the task");
  records_.persistAll(snapshots);
  // Consumers of hive.agent_frames/1 hear it now: the sessions may end only
  // after the agents said hello to the next generation.
  for (const auto& agent : snapshots) frames_.handedOver(agent);
}

void RemoteAgents::resume() {
  std::lock_guard lock(sessionsMutex_);
  if (refusing_.exchange(false))
    env_.log().info("the next generation did not take over: agents are welcome again");
}

void RemoteAgents::requestDispatch() { dispatcher_.request(); }

Result<Agent> RemoteAgents::authenticate(const std::string& requestedId, const std::string& secret,
                                         Welcome& welcome) {
  Agent agent;
  if (requestedId.empty()) {
    HIVE_TRY(records_.reserve());
    agent.id = newAgentId();
    agent.createdAtMs = env_.now();
    welcome.secret = newAgentSecret();
    agent.secretDigest = secretDigest(welcome.secret);
    return agent;
  }
  auto stored = HIVE_TRY(records_.load(requestedId));
  if (!stored)
    return notFound("no agent " + requestedId +
                    " (deleted, or purged after agent_retention): say hello without agent_id to register");
  agent = std::move(*stored);
  if (agent.runtime != Runtime::kRemote)
    return invalidArgument("agent " + requestedId + " is not a remote agent");
  // Checked before anything changes: a refused hello leaves the agent that
  // holds this id connected, with its capabilities and its tasks.
  if (agent.secretDigest.empty())
    return refused("agent " + requestedId +
                   " has no reconnect secret (registered before Hive issued them): say hello "
                   "without agent_id to register anew");
  if (secret.empty()) return refused("agent " + requestedId + " exists: hello needs its secret");
  if (!secretMatches(secret, agent.secretDigest)) return refused("wrong secret for agent " + requestedId);
  return agent;
}

Result<RemoteAgents::Welcome> RemoteAgents::hello(const std::shared_ptr<AgentChannel>& channel,
                                                  const std::string& requestedId, const std::string& secret,
                                                  const AgentSpec& spec, const std::string& boundName,
                                                  const std::string& tenant) {
  if (!env_.store.lease()) return unavailable("storage is unavailable");
  Welcome welcome;
  Agent agent = HIVE_TRY(authenticate(requestedId, secret, welcome));
  // An agent key speaks for one agent name: it cannot take over another
  // agent's id (and with it its leases), whatever secret it presents.
  if (!boundName.empty() && !requestedId.empty() && agent.name != boundName)
    return refused("agent " + requestedId + " is '" + agent.name + "', and this key is for agent '" +
                   boundName + "'");
  // An agent runs one tenant's tasks: that of the key that registered it. A
  // key of another tenant cannot take it over (nor learn whose it is).
  if (requestedId.empty())
    agent.tenant = tenant;
  else if (agent.tenant != tenant)
    return refused("agent " + requestedId + " belongs to another tenant than this key");
  apply(spec, agent);
  agent.runtime = Runtime::kRemote;
  agent.node = env_.options.node;
  agent.lastHeartbeatMs = env_.now();
  welcome.agentId = agent.id;
  HIVE_TRY(admit(std::move(agent), channel, requestedId.empty() ? Place::kReserved : Place::kExisting));
  return welcome;
}

Status RemoteAgents::admit(Agent agent, const std::shared_ptr<AgentChannel>& channel, Place place) {
  struct Admitted {
    Status status;
    std::shared_ptr<http::WebSocketPeer> previous;
    Leases unanswered;
    std::optional<LocalAgent> evicted;
    Agent snapshot;
  };
  Admitted out = registry_.withLock([&](AgentTable& table) {
    Admitted a;
    auto& agents = table.byId;
    if (agents.size() >= env_.options.maxAgents && agents.count(agent.id) == 0) {
      // Full. A record kept for an agent that may reconnect gives its place up
      // (the oldest first): otherwise agents that said hello and left would
      // lock every new one out until their reconnect time ran out.
      auto oldest = agents.end();
      for (auto it = agents.begin(); it != agents.end(); ++it)
        if (it->second.agent.runtime == Runtime::kRemote && !it->second.peer &&
            (oldest == agents.end() || it->second.disconnectedAtMs < oldest->second.disconnectedAtMs))
          oldest = it;
      if (oldest == agents.end()) {
        a.status =
            resourceExhausted("this node serves its maximum of " + std::to_string(env_.options.maxAgents) +
                              " connected agents (max_agents)");
        return a;
      }
      a.evicted = std::move(oldest->second);
      agents.erase(oldest);
    }
    LocalAgent& local = agents[agent.id];
    // A reconnect keeps the tasks still leased to it: their results are welcome.
    // Assignments the previous connection did not answer go back to the queue.
    a.unanswered = AgentRegistry::takeUnacknowledged(local);
    agent.inFlight = local.agent.id.empty() ? std::map<std::string, std::string>() : local.agent.inFlight;
    a.previous = local.peer;
    local.agent = std::move(agent);
    local.peer = channel->peer();
    local.channel = channel;
    local.disconnectedAtMs = 0;
    local.assignments = Assignments::kWelcoming;
    registry_.refreshStatus(local.agent);
    a.snapshot = local.agent;
    return a;
  });
  if (!out.status.ok()) {
    if (place == Place::kReserved) records_.unregistered();
    return out.status;
  }
  if (out.previous && out.previous != channel->peer())
    out.previous->close(1008, "the same agent connected again");
  if (out.evicted) {
    const std::string& evictedId = out.evicted->agent.id;
    env_.log().info("agent " + evictedId + " forgotten by this node to make room for a new one");
    dispatcher_.releaseAll(*out.evicted,
                           "agent " + evictedId + " did not reconnect before its place was needed");
  }
  dispatcher_.release(out.unanswered,
                      "agent " + out.snapshot.id + " reconnected without answering the assignment");
  records_.persist(out.snapshot);
  env_.log().info("agent " + out.snapshot.id + " (" + out.snapshot.name + ") connected");
  return okStatus();
}

void RemoteAgents::welcomed(const std::string& agentId) {
  registry_.withLock([&](AgentTable& table) {
    auto found = table.byId.find(agentId);
    if (found != table.byId.end() && found->second.assignments == Assignments::kWelcoming)
      found->second.assignments = Assignments::kOpen;
  });
  dispatcher_.request();
}

void RemoteAgents::acknowledged(const std::string& agentId, const std::string& taskId,
                                const std::string& leaseToken) {
  bool freed = registry_.withLock([&](AgentTable& table) {
    auto found = table.byId.find(agentId);
    if (found == table.byId.end()) return false;
    LocalAgent& local = found->second;
    // Even an answer about a task it already lost shows that it reads its
    // assignments again: the hold ends.
    bool wasHeld = std::exchange(local.assignments, Assignments::kOpen) == Assignments::kHeld;
    auto leased = local.agent.inFlight.find(taskId);
    if (leased != local.agent.inFlight.end() && leased->second == leaseToken)
      return local.unacknowledged.erase(taskId) > 0 || wasHeld;
    return wasHeld;
  });
  if (freed) dispatcher_.request();  // it may take more now
}

Status RemoteAgents::accept(const std::string& taskId, const std::string& leaseToken) {
  auto tasks = env_.tasks.lease();
  if (!tasks) return unavailable("tasks are unavailable");
  return tasks->started(taskId, leaseToken);
}

void RemoteAgents::disconnected(const std::string& agentId, const http::WebSocketPeer* peer) {
  std::int64_t now = env_.now();
  std::optional<std::pair<Agent, Leases>> left =
      registry_.withLock([&](AgentTable& table) -> std::optional<std::pair<Agent, Leases>> {
        auto found = table.byId.find(agentId);
        if (found == table.byId.end() || found->second.peer.get() != peer) return std::nullopt;
        LocalAgent& local = found->second;
        // Assignments it never answered may never have reached it (a slow reader
        // closed with frames still queued): back to the queue now, not when the
        // reconnect time runs out. Accepted ones stay leased to it for a reconnect.
        Leases unanswered = AgentRegistry::takeUnacknowledged(local);
        local.peer.reset();
        local.channel.reset();
        local.disconnectedAtMs = now;
        local.agent.node.clear();
        registry_.refreshStatus(local.agent);
        return std::make_pair(local.agent, std::move(unanswered));
      });
  if (!left) return;
  dispatcher_.release(left->second, "agent " + agentId + " disconnected before accepting the task");
  records_.persist(left->first);
  env_.log().info("agent " + agentId + " disconnected");
}

void RemoteAgents::closeAll(std::string_view reason) {
  std::vector<std::shared_ptr<http::WebSocketPeer>> peers;
  {
    std::lock_guard lock(sessionsMutex_);
    for (const auto& [session, peer] : sessions_) peers.push_back(peer);
  }
  for (auto& peer : peers) peer->close(1001, std::string(reason));
}

}  // namespace hive::orchestrator
