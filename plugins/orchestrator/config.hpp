// The `orchestrator` plugin's settings: its YAML section as a typed struct,
// validated once (docs/configuration.md, orchestrator).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "hive/config.hpp"

namespace hive::orchestrator {

struct Options {
  std::chrono::milliseconds heartbeatInterval{30000};
  std::uint32_t missedHeartbeats = 3;
  std::uint32_t failureThreshold = 3;        // consecutive failures that open the breaker
  std::chrono::milliseconds openFor{30000};  // then half-open: one probe task
  std::chrono::milliseconds sweepPeriod{1000};
  // How often a running process-agent job's figures (hive.job_usage/1) are
  // copied onto its task's progress; they are copied once more when it ends.
  std::chrono::milliseconds usagePeriod{5000};
  // Dispatch ranks agents by (held + 1) × their recent assignment-to-result
  // time, then by load; false: by load only (held over limit).
  bool latencyRanking = true;
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
  // Process agent name → the tenant whose tasks it runs; the others run the
  // default tenant's.
  std::map<std::string, std::string> processAgentTenants;
  // When a new generation of the plugin is about to replace this one, how long
  // this one waits for its agents' connections to close (succession.hpp).
  std::chrono::milliseconds handoverWait{5000};

  // How long a remote agent may stay silent (connected or not) before it is
  // offline and its tasks go back to the queue.
  std::int64_t silenceMs() const { return heartbeatInterval.count() * missedHeartbeats; }
};

// A setting as an operator would write it: "60s" for whole seconds, "1500ms" otherwise.
inline std::string durationText(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? std::to_string(d.count() / 1000) + "s" : std::to_string(d.count()) + "ms";
}

// Reads the section; every bad value is reported with its location, and the
// returned options then hold the defaults for those keys.
Options readOptions(const ConfigNode& section, Diagnostics& diagnostics);

}  // namespace hive::orchestrator
