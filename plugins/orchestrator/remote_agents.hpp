// Remote agents over WebSocket (docs/agent-protocol.md): what their sessions
// ask of the orchestrator. hello registers a new agent (its reconnect secret
// is shown once, in welcome) or takes an existing one back with its secret; a
// reconnect keeps the tasks still leased to it, while assignments its earlier
// connection never answered go back to the queue. A disconnected agent waits
// for its reconnect as long as its heartbeats would allow, then goes offline.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent_channel.hpp"
#include "agent_frames.hpp"
#include "agent_records.hpp"
#include "agent_registry.hpp"
#include "environment.hpp"
#include "health.hpp"
#include "hive/services/http.hpp"
#include "results.hpp"

namespace hive::orchestrator {

class AgentSession;
class Dispatcher;

class RemoteAgents {
 public:
  RemoteAgents(Environment& environment, AgentRegistry& registry, AgentRecords& records,
               Dispatcher& dispatcher, Results& results, HealthMonitor& health, FrameRouter& frames)
      : env_(environment),
        registry_(registry),
        records_(records),
        dispatcher_(dispatcher),
        results_(results),
        health_(health),
        frames_(frames) {}

  // A new WebSocket of a remote agent; kUnavailable (the api answers 503, the
  // agent retries) while this generation hands its agents over.
  // `principal` is who hive.auth/1 says connects: an agent key's "agent:<name>"
  // binds the session to that agent name (docs/agent-protocol.md, "Agent keys").
  Result<std::shared_ptr<http::WebSocketSession>> connect(std::shared_ptr<http::WebSocketPeer> peer,
                                                          std::string principal = {});
  // From the session: it is over (closed, or destroyed without a close).
  void sessionEnded(const AgentSession* session);

  struct Welcome {
    std::string agentId;
    std::string secret;  // only for a newly registered agent
  };
  // kPermissionDenied when `requestedId` exists and `secret` is not its reconnect secret;
  // nothing changes then, and the agent connected under that id stays connected.
  // Its welcome is on the wire: it may be given tasks from now on.
  void welcomed(const std::string& agentId);
  Result<Welcome> hello(const std::shared_ptr<AgentChannel>& channel, const std::string& requestedId,
                        const std::string& secret, const AgentSpec& spec, const std::string& boundName = {},
                        const std::string& tenant = {});
  void heartbeat(const std::string& agentId) { health_.heartbeat(agentId); }
  // The agent answered the assignment of `taskId` (accept, progress or result).
  void acknowledged(const std::string& agentId, const std::string& taskId, const std::string& leaseToken);
  // task.accept: the task is running (assigned → running).
  Status accept(const std::string& taskId, const std::string& leaseToken);
  std::vector<Status> report(const std::string& agentId, const std::vector<Results::Report>& reports) {
    return results_.report(agentId, reports);
  }
  void hold(const std::string& agentId, Results::Report report, Results::Settled settled) {
    results_.hold(agentId, std::move(report), std::move(settled));
  }
  void disconnected(const std::string& agentId, const http::WebSocketPeer* peer);
  void requestDispatch();

  // Closes every connection (1001): the agents reconnect to whichever
  // generation or node serves next; their leases stay valid.
  void closeAll(std::string_view reason);

  // The next generation is about to replace this one (succession.hpp): every
  // connection is closed (1001), new ones are refused, and this waits until
  // the sessions ended or `wait` passed. True when they all ended.
  bool handOver(std::chrono::milliseconds wait);
  // The replacement failed: new connections are welcome again.
  void resume();

  Environment& environment() { return env_; }
  // Frame types and presence for other plugins (hive.agent_frames/1).
  FrameRouter& frames() { return frames_; }

 private:
  // The record the hello names, checked against its secret; or a new one.
  Result<Agent> authenticate(const std::string& requestedId, const std::string& secret, Welcome& welcome);
  // Whether hello took a place in the registry for a new agent (given back if refused).
  enum class Place { kExisting, kReserved };
  // Every connected agent marked disconnected at once, its unanswered
  // assignments released, the records written in one transaction (a hand-over
  // of many agents must not wait for a commit per agent).
  void disconnectAll();
  // Puts the agent on this node with its connection; a full node makes room.
  Status admit(Agent agent, const std::shared_ptr<AgentChannel>& channel, Place place);

  Environment& env_;
  AgentRegistry& registry_;
  AgentRecords& records_;
  Dispatcher& dispatcher_;
  Results& results_;
  HealthMonitor& health_;
  FrameRouter& frames_;

  // Every session from its start to its end, greeted or not: the api holds a
  // lease on this generation for each of them.
  std::mutex sessionsMutex_;
  std::condition_variable sessionsEnded_;
  std::map<const AgentSession*, std::shared_ptr<http::WebSocketPeer>> sessions_;
  std::atomic<bool> refusing_{false};
};

}  // namespace hive::orchestrator
