// optimization_engine's `config:` section, read and validated once.
#pragma once

#include <cstddef>

#include "gradient_limit.hpp"
#include "hive/config.hpp"

namespace hive::optimization_engine {

struct Settings {
  // false: hive.concurrency/1 is not provided and agents hold up to their
  // max_concurrency (the figures are still learnt and shown).
  bool adaptiveConcurrency = true;
  GradientOptions gradient;
  std::size_t maxAgents = 10000;      // agents followed
  std::size_t trackedTasks = 100000;  // running attempts followed
};

Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics);

}  // namespace hive::optimization_engine
