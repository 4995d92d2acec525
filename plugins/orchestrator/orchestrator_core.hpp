// Agents and assignment: the registry of agents (remote ones connected over
// WebSocket, process ones run by hive.executor/1), event-driven dispatch of
// tasks from hive.tasks/1, heartbeats, and a circuit breaker per agent.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent_model.hpp"
#include "hive/context.hpp"
#include "hive/services/executor.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tasks.hpp"

namespace hive::orchestrator {

struct Options {
  std::chrono::milliseconds heartbeatInterval{30000};
  std::uint32_t missedHeartbeats = 3;
  std::uint32_t failureThreshold = 3;        // consecutive failures that open the breaker
  std::chrono::milliseconds openFor{30000};  // then half-open: one probe task
  std::chrono::milliseconds sweepPeriod{1000};
  std::size_t maxAgents = 10000;
  std::string node;
};

// Runs posted work one item at a time, in order, on an executor.
class SerialQueue : public std::enable_shared_from_this<SerialQueue> {
 public:
  explicit SerialQueue(Executor& executor) : executor_(executor) {}
  void post(std::function<void()> work);

 private:
  void drain();
  Executor& executor_;
  std::mutex mutex_;
  std::deque<std::function<void()>> queue_;
  bool running_ = false;
};

class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(PluginContext& context, ServiceHandle<tasks::TaskService> tasks, ServiceHandle<store::Store> store,
       Options options);

  Status open();
  // Stops dispatch and closes remote agents' sockets with 1001 (they reconnect
  // to whichever generation or node serves next; their leases stay valid).
  void close();
  bool idle() const { return inFlight_ == 0; }

  // REST.
  Result<Agent> registerAgent(const AgentSpec& spec);
  Result<Agent> get(const std::string& id);
  Result<std::vector<Agent>> list(const std::string& status, const std::string& capability);
  Result<Agent> patch(const std::string& id, const AgentSpec& spec);
  Status remove(const std::string& id);
  Result<Agent> drain(const std::string& id);
  Result<std::string> coordinationStatus();

  // A remote agent's WebSocket.
  std::shared_ptr<http::WebSocketSession> connect(std::shared_ptr<http::WebSocketPeer> peer);

  // Heartbeats, breakers, process agents, a dispatch pass. On the blocking executor.
  void sweep();
  void requestDispatch();

  // Runs `work` on the blocking executor, counted for drained().
  void background(std::function<void()> work);

 private:
  friend class AgentSession;
  struct Local {
    Agent agent;
    std::shared_ptr<http::WebSocketPeer> peer;                           // remote agents, while connected
    std::int64_t disconnectedAtMs = 0;                                   // remote agents, while not
    std::map<std::string, std::shared_ptr<exec::Execution>> executions;  // process agents
  };
  struct Candidate {
    std::string id;
    std::vector<std::string> capabilities;
    double load = 0;
  };

  void dispatchLoop();
  bool dispatchRound();
  std::vector<Candidate> candidates();
  void deliver(const std::string& agentId, const tasks::Assignment& assignment);
  void processDone(const std::string& agentId, const std::string& taskId, const std::string& leaseToken,
                   exec::Outcome outcome);
  // A result from an agent: reported to task_manager, the breaker updated.
  Status report(const std::string& agentId, const std::string& taskId, const std::string& leaseToken,
                bool succeeded, const std::string& result, const std::string& error, bool retryable);
  void releaseAll(Local& local, const std::string& reason);
  void persist(const Agent& agent);
  void loadProcessAgents();
  void refreshStatus(Agent& agent) const;

  // Remote sessions.
  Result<std::string> hello(const std::shared_ptr<http::WebSocketPeer>& peer, const std::string& requestedId,
                            const AgentSpec& spec);
  void heartbeat(const std::string& agentId);
  void disconnected(const std::string& agentId, const http::WebSocketPeer* peer);

  PluginContext& context_;
  ServiceHandle<tasks::TaskService> tasks_;
  ServiceHandle<store::Store> store_;
  Options options_;
  std::atomic<bool> open_{false};
  std::atomic<int> inFlight_{0};
  std::atomic<bool> dispatchPending_{false};
  std::atomic<bool> dispatching_{false};
  bool processAgentsLoaded_ = false;
  // Wake-ups from task_manager. The subscription object is task_manager's code:
  // when task_manager is swapped or removed, the watch drops it while the old
  // generation is still loaded, and subscribes again to the new one.
  void resubscribe();
  std::mutex subscriptionMutex_;
  std::unique_ptr<Subscription> tasksWatch_;
  std::unique_ptr<Subscription> workSubscription_;

  mutable std::mutex mutex_;
  std::map<std::string, Local> agents_;  // the agents this node serves
};

}  // namespace hive::orchestrator
