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

struct Settings {
  Quota defaults;                       // for every process agent
  std::map<std::string, Quota> agents;  // per agent name: each key given replaces the default's
  std::size_t keepFinished = 1000;      // summaries of finished jobs kept for the API
};

// The quota of one job of `agent`.
const Quota& quotaFor(const Settings& settings, const std::string& agent);

Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics);

}  // namespace hive::resource_manager
