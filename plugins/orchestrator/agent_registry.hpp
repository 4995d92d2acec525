// The agents this node serves, in memory: each one's record, its connection
// (remote agents) or its running jobs (process agents), the assignments it has
// not answered yet, and which records changed since they were last written.
// One mutex guards it all; the classes that act on agents (sessions, the
// dispatcher, health, process agents, cancellation) take it through
// withLock() for as short as they can and never call out (storage, sockets,
// hive.tasks/1) while holding it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent_channel.hpp"
#include "agent_model.hpp"
#include "clock.hpp"
#include "hive/services/executor.hpp"
#include "hive/services/http.hpp"

namespace hive::orchestrator {

using Leases = std::vector<std::pair<std::string, std::string>>;  // task id, lease token

// Whether a remote agent may be given tasks: not between its hello and its
// welcome (a task.assign must not overtake the welcome), and not after it let
// an assignment run past the claim window, until it answers one again.
enum class Assignments { kOpen, kWelcoming, kHeld };

struct LocalAgent {
  Agent agent;
  std::shared_ptr<http::WebSocketPeer> peer;                           // remote agents, while connected
  std::shared_ptr<AgentChannel> channel;                               // what is sent over `peer`
  std::int64_t disconnectedAtMs = 0;                                   // remote agents, while not
  std::map<std::string, std::shared_ptr<exec::Execution>> executions;  // process agents
  // Remote agents: assignments not answered yet, task id → claim deadline (epoch ms).
  std::map<std::string, std::int64_t> unacknowledged;
  Assignments assignments = Assignments::kOpen;
  // How long its tasks take, assignment to a successful result: when each of
  // the tasks it holds was handed to it (epoch ms), and the moving average
  // (0 until its first success). The dispatcher ranks agents by it.
  std::map<std::string, std::int64_t> assignedAtMs;
  double latencyMs = 0;
  std::uint64_t attemptsEnded = 0;  // results taken from it, whatever their outcome
};

struct AgentTable {
  std::map<std::string, LocalAgent> byId;
  std::set<std::string> unsaved;  // agents whose counters changed since the last write
};

class AgentRegistry {
 public:
  explicit AgentRegistry(const Clock& clock) : clock_(clock) {}

  // Runs `work(table)` under the registry's mutex and returns what it returns.
  template <typename Work>
  auto withLock(Work&& work) {
    std::lock_guard lock(mutex_);
    return work(table_);
  }

  // A copy of the agent's record, when this node serves it.
  std::optional<Agent> find(const std::string& id);
  bool serves(const std::string& id);
  // The records whose counters changed since the last call (to be written).
  std::vector<Agent> takeUnsaved();
  // A copy of the agent's record (when this node serves it), to be written
  // now: no longer among takeUnsaved()'s.
  std::optional<Agent> takeUnsaved(const std::string& id);

  // Status and updatedAtMs from the agent's state.
  void refreshStatus(Agent& agent) const;
  // Removes the unanswered assignments from `local` and returns their leases.
  static Leases takeUnacknowledged(LocalAgent& local);

  const Clock& clock() const { return clock_; }

 private:
  const Clock& clock_;
  std::mutex mutex_;
  AgentTable table_;
};

}  // namespace hive::orchestrator
