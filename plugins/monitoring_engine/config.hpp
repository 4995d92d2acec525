// The monitoring_engine's `config:` section, read and validated once.
#pragma once

#include <chrono>
#include <cstddef>
#include <set>
#include <string>

#include "alert_rules.hpp"
#include "hive/config.hpp"
#include "tracing.hpp"

namespace hive::monitoring_engine {

struct Settings {
  // How often every plugin's health() is asked (through hive.health/1).
  std::chrono::milliseconds healthPeriod{5000};
  // Plugins whose failing health is shown in the detail but does not make
  // /readyz 503 (e.g. an optional executor).
  std::set<std::string> optionalPlugins;
  // Distinct capability sets given their own hive_tasks_queued series (0: no
  // queue depth series at all).
  std::size_t queueDepthSeries = 50;
  // Waiting and running tasks followed (each) for the queue age and run time
  // series; about 100 bytes each.
  std::size_t trackedTasks = 100000;
  AlertSettings alerts;
  TracingSettings tracing;
};

// Reads `section` into settings; every problem goes to `diagnostics` with its
// location, and the defaults stand in for bad values.
Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics);

}  // namespace hive::monitoring_engine
