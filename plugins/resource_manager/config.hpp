// resource_manager's `config:` section, read and validated once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "hive/config.hpp"

namespace hive::resource_manager {

// What one job of a process agent may use; 0 everywhere means no quota.
struct Quota {
  std::uint64_t memoryBytes = 0;          // resident memory (RSS) of its process tree, summed
  std::uint64_t cpuSeconds = 0;           // CPU time of its tree, user + system, exited processes included
  std::uint64_t openFiles = 0;            // file descriptors open across its tree
  std::chrono::milliseconds wallTime{0};  // since it started (the agent's timeout applies too)
};

// When new tasks are refused (hive.admission/1): any limit crossed closes the
// door until the next sample finds every signal back under its limit. 0: that
// signal is not checked.
struct AdmissionLimits {
  std::uint64_t maxWaiting = 0;  // tasks waiting to be claimed, every queue together
  std::chrono::milliseconds maxQueueAge{
      0};  // the oldest claimable task's wait (hive_tasks_queue_age_seconds)
  std::uint64_t minMemoryAvailableBytes = 0;  // the host's MemAvailable
  double maxLoadPerCpu = 0;                   // 1-minute load average over CPUs
  std::chrono::milliseconds interval{1000};   // how often the signals are read
  std::chrono::seconds retryAfter{5};         // what a refused client is told
  // Per submitter: new work of a tenant with this many tasks waiting is
  // refused (the others' is not).
  std::uint64_t maxWaitingPerTenant = 0;
  // Per capability: new work needing one of these capabilities is refused
  // while this many tasks needing it wait.
  std::map<std::string, std::uint64_t> maxWaitingByCapability;

  bool waitingByTenantOrCapability() const {
    return maxWaitingPerTenant != 0 || !maxWaitingByCapability.empty();
  }
  bool any() const {
    return maxWaiting != 0 || maxQueueAge.count() != 0 || minMemoryAvailableBytes != 0 ||
           maxLoadPerCpu != 0 || waitingByTenantOrCapability();
  }
};

struct Settings {
  AdmissionLimits admission;
  Quota defaults;                       // for every process agent
  std::map<std::string, Quota> agents;  // per agent name: each key given replaces the default's
  std::size_t keepFinished = 1000;      // summaries of finished jobs kept for the API
};

// The quota of one job of `agent`.
const Quota& quotaFor(const Settings& settings, const std::string& agent);

Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics);

}  // namespace hive::resource_manager
