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
#include <set>
#include <string>
#include <vector>

#include "agent_channel.hpp"
#include "agent_model.hpp"
#include "cancel_watch.hpp"
#include "hive/context.hpp"
#include "hive/follower.hpp"
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
  // Remote agents this node keeps in memory: connected ones, and disconnected
  // ones waiting to reconnect. A waiting one gives its place up to a new
  // connection when the node is full, so only connected agents can fill it.
  std::size_t maxAgents = 10000;
  // Agent records in the store (all nodes); a new registration past it is refused.
  std::size_t maxRegisteredAgents = 100000;
  // An agent record not connected for this long is deleted by the sweep.
  std::chrono::milliseconds agentRetention{std::chrono::hours(24)};
  // A remote agent must answer task.assign (task.accept, task.progress or
  // task.result) within this, or the task goes back to the queue.
  std::chrono::milliseconds claimWindow{10000};
  // Assignments a remote agent may hold without having answered them.
  std::size_t maxUnacknowledged = 16;
  // Messages kept for a remote agent whose WebSocket send queue is full (it
  // does not read): it gets no new task meanwhile. Beyond it, it is closed (1008).
  std::size_t maxBacklog = 4096;
  std::string node;
};

struct AgentPage {
  std::vector<Agent> items;
  std::string nextCursor;  // empty on the last page
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
  struct Registered {
    Agent agent;
    std::string secret;  // the reconnect secret: shown once, in the 201
  };
  Result<Registered> registerAgent(const AgentSpec& spec);
  Result<Agent> get(const std::string& id);
  // One page in id order, `limit` 1..1000. The `capability` filter applies
  // within the page, so a page may hold fewer than `limit` agents: follow
  // nextCursor until it is empty.
  Result<AgentPage> list(const std::string& status, const std::string& capability, std::size_t limit,
                         const std::string& cursor);
  Result<Agent> patch(const std::string& id, const AgentSpec& spec);
  Status remove(const std::string& id);
  Result<Agent> drain(const std::string& id);
  Result<std::string> coordinationStatus();

  // A remote agent's WebSocket.
  std::shared_ptr<http::WebSocketSession> connect(std::shared_ptr<http::WebSocketPeer> peer);

  // Heartbeats, breakers, claim windows, process agents, a bounded purge of old
  // records, a dispatch pass. On the blocking executor, never two at once.
  void sweep();
  void requestDispatch();

  // The task was cancelled (hive.tasks/1 publishes it; CancelWatch hears it).
  // If this node handed it out: a remote agent gets task.cancel and the task
  // leaves its in-flight set; a process agent's job is cancelled, which kills
  // its whole process tree. The task stays cancelled: what the agent or the
  // job reports afterwards is refused as stale, and nothing is retried.
  void taskCancelled(const std::string& taskId);

  // Runs `work` on the blocking executor, counted for drained().
  void background(std::function<void()> work);

 private:
  friend class AgentSession;
  struct Local {
    Agent agent;
    std::shared_ptr<http::WebSocketPeer> peer;                           // remote agents, while connected
    std::shared_ptr<AgentChannel> channel;                               // what is sent over `peer`
    std::int64_t disconnectedAtMs = 0;                                   // remote agents, while not
    std::map<std::string, std::shared_ptr<exec::Execution>> executions;  // process agents
    // Remote agents: assignments not answered yet, task id → claim deadline (epoch ms).
    std::map<std::string, std::int64_t> unacknowledged;
    // Lost a task to the claim window: no assignments until it answers one.
    bool held = false;
  };
  struct Welcome {
    std::string agentId;
    std::string secret;  // only for a newly registered agent
  };
  using Leases = std::vector<std::pair<std::string, std::string>>;  // task id, lease token
  struct Candidate {
    std::string id;
    std::vector<std::string> capabilities;
    double load = 0;
    std::size_t free = 1;  // assignments it can take now
  };

  void dispatchLoop();
  bool dispatchRound();
  std::vector<Candidate> candidates();
  void deliver(const std::string& agentId, const tasks::Assignment& assignment);
  void processDone(const std::string& agentId, const std::string& taskId, const std::string& leaseToken,
                   exec::Outcome outcome);
  // A result from an agent: reported to task_manager, the breaker updated.
  Status report(const std::string& agentId, const std::string& taskId, const std::string& leaseToken,
                bool succeeded, const std::string& result, const std::string& error, tasks::Retry retry);
  // Several results of one agent, reported together (one store transaction
  // when they can be); each gets the status report() would have returned.
  std::vector<Status> reportMany(const std::string& agentId,
                                 const std::vector<tasks::TaskService::Report>& reports);
  void releaseAll(Local& local, const std::string& reason);
  void release(const Leases& leases, const std::string& reason);
  // Removes the unanswered assignments from `local` (under mutex_) and returns them.
  static Leases takeUnacknowledged(Local& local);
  void expireClaims(std::int64_t now);
  void purgeOldRecords(std::int64_t now);
  // A place in the registry for a new agent: kResourceExhausted when it is full.
  Status reserveRegistration();
  void unregistered();
  Result<std::size_t> countRegistered();
  void persist(const Agent& agent);
  // Writes the records whose counters changed since the last sweep.
  void persistUnsaved();
  void loadProcessAgents();
  void refreshStatus(Agent& agent) const;

  // Remote sessions.
  // kPermissionDenied when `requestedId` exists and `secret` is not its reconnect secret;
  // nothing changes then, and the agent connected under that id stays connected.
  Result<Welcome> hello(const std::shared_ptr<AgentChannel>& channel, const std::string& requestedId,
                        const std::string& secret, const AgentSpec& spec);
  void heartbeat(const std::string& agentId);
  // Sends over the agent's channel; one that has not read `maxBacklog`
  // messages is closed (1008), saying so.
  void sendTo(const std::shared_ptr<AgentChannel>& channel, std::string text);
  // The agent answered the assignment of `taskId` (accept, progress or result).
  void acknowledged(const std::string& agentId, const std::string& taskId, const std::string& leaseToken);
  // task.accept: the task is running (assigned → running).
  Status accept(const std::string& taskId, const std::string& leaseToken);
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
  // Wake-ups from hive.tasks/1. The subscription object is the provider's
  // code: the follower drops it while a swapped or removed generation is still
  // loaded, and subscribes again to the new one.
  std::unique_ptr<Subscription> subscribeToWork(tasks::TaskService& tasks);
  std::unique_ptr<ServiceFollower<tasks::TaskService>> work_;
  std::unique_ptr<CancelWatch> cancelWatch_;

  mutable std::mutex mutex_;
  std::map<std::string, Local> agents_;  // the agents this node serves
  std::set<std::string> unsaved_;        // agents whose counters changed since the last write

  // Agent records in the store as this node last counted them, plus its own
  // registrations and purges since (other nodes' are seen at the next count).
  std::atomic<std::size_t> registered_{0};
  std::atomic<std::int64_t> lastCountMs_{0};
  std::string purgeCursor_;  // where the next purge pass resumes; sweep() only
};

}  // namespace hive::orchestrator
