// The agent series (docs/observability.md), taken where the agents are: the
// registry of this node, once per sweep. Kept out of health.cpp's logic so
// that the series can change without touching it.
//
//   hive_agents{status,runtime}      agents this node serves, by status (every pair, zeros included)
//   hive_agents_circuit{state}       the same agents by circuit breaker state
//   hive_agents_went_offline_total   remote agents given up for missed heartbeats or not coming back
//
// Labels are fixed sets: never an agent id or name.
#pragma once

#include <array>
#include <cstddef>
#include <string>

#include "agent_model.hpp"
#include "agent_registry.hpp"
#include "hive/metrics.hpp"

namespace hive::orchestrator::metrics {

inline void countWentOffline(Metrics& metrics, std::size_t agents) {
  metrics
      .counter("hive_agents_went_offline_total",
               "Remote agents that missed their heartbeats or did not come back in time, and went offline")
      .increment(static_cast<double>(agents));
}

inline void recordAgents(Metrics& metrics, AgentRegistry& registry) {
  constexpr std::array kStatuses = {AgentStatus::kIdle, AgentStatus::kBusy, AgentStatus::kDraining,
                                    AgentStatus::kOffline, AgentStatus::kFailed};
  constexpr std::array kRuntimes = {Runtime::kProcess, Runtime::kRemote};
  constexpr std::array kCircuits = {Circuit::kClosed, Circuit::kOpen, Circuit::kHalfOpen};
  std::array<std::array<double, kRuntimes.size()>, kStatuses.size()> byStatus{};
  std::array<double, kCircuits.size()> byCircuit{};
  registry.withLock([&](AgentTable& table) {
    for (const auto& [id, local] : table.byId) {
      byStatus[static_cast<std::size_t>(local.agent.status)][static_cast<std::size_t>(local.agent.runtime)] +=
          1;
      byCircuit[static_cast<std::size_t>(local.agent.circuit)] += 1;
    }
  });
  for (auto status : kStatuses)
    for (auto runtime : kRuntimes)
      metrics
          .gauge(
              "hive_agents", "Agents this node serves, by status and runtime",
              {{"status", std::string(statusName(status))}, {"runtime", std::string(runtimeName(runtime))}})
          .set(byStatus[static_cast<std::size_t>(status)][static_cast<std::size_t>(runtime)]);
  for (auto circuit : kCircuits)
    metrics
        .gauge("hive_agents_circuit", "Agents this node serves, by the state of their circuit breaker",
               {{"state", std::string(circuitName(circuit))}})
        .set(byCircuit[static_cast<std::size_t>(circuit)]);
  countWentOffline(metrics, 0);  // the series exists before the first agent goes
}

}  // namespace hive::orchestrator::metrics
