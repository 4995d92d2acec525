// Event-driven assignment: a dispatch runs when something may have changed
// (work arrived, an agent connected, freed a slot or read its backlog, a
// sweep), never two at once. Each round asks hive.tasks/1 for up to 16 tasks
// per agent with room, least loaded agents first, and hands them out: over the
// agent's WebSocket (task.assign, to be answered within the claim window) or
// as a job of a process agent.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "agent_registry.hpp"
#include "cancel_watch.hpp"
#include "environment.hpp"

namespace hive::orchestrator {

class ProcessAgents;

class Dispatcher {
 public:
  Dispatcher(Environment& environment, AgentRegistry& registry, ProcessAgents& processAgents,
             const CancelWatch& cancellations)
      : env_(environment),
        registry_(registry),
        processAgents_(processAgents),
        cancellations_(cancellations) {}

  // Asks for a dispatch; returns at once. Nothing once the orchestrator closed.
  void request();

  // Gives the leases back to hive.tasks/1 (the tasks are queued again), then
  // asks for a dispatch.
  void release(const Leases& leases, const std::string& reason);
  // Every task `local` holds, released; its in-flight set emptied.
  void releaseAll(LocalAgent& local, const std::string& reason);
  // Takes back an assignment that could not be handed out: off the agent, and
  // released.
  void undo(const std::string& agentId, const tasks::Assignment& assignment, const std::string& why);

 private:
  struct Candidate {
    std::string id;
    std::vector<std::string> capabilities;
    double load = 0;
    std::size_t free = 1;       // assignments it can take now
    std::size_t held = 0;       // tasks it holds
    std::uint32_t ceiling = 1;  // its max_concurrency
    // (held + 1) × LocalAgent::latencyMs: when it would finish one more task.
    // 0 for an agent nothing ended on yet (it is tried) and with
    // latency_ranking off; infinite for one whose attempts all failed.
    double expectedMs = 0;
  };

  void loop();
  bool round();
  std::vector<Candidate> candidates();
  // Still served here and, if remote, connected.
  bool available(const std::string& agentId);
  void deliver(const std::string& agentId, const tasks::Assignment& assignment);

  Environment& env_;
  AgentRegistry& registry_;
  ProcessAgents& processAgents_;
  const CancelWatch& cancellations_;
  std::atomic<bool> pending_{false};
  std::atomic<bool> running_{false};
};

}  // namespace hive::orchestrator
