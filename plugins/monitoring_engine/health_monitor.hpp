// Asks the kernel for every plugin's health (hive.health/1) once per period and
// remembers each plugin's state over time: healthy or not, since when, the last
// error. Provides hive.readiness/1 from it, for GET /readyz.
//
// poll() runs on the blocking pool (the plugins' health() may each take a
// round trip); failing() and snapshot() only read what the last poll left, so
// /readyz never waits for a server that is down.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "hive/context.hpp"
#include "hive/services/health.hpp"

namespace hive::monitoring_engine {

struct PluginRecord {
  std::string plugin;
  std::uint64_t generation = 0;
  bool healthy = true;
  bool optional = false;             // does not make the process unready
  std::string error;                 // the current failure, when not healthy
  std::int64_t sinceUnixMs = 0;      // in this state since
  std::string lastError;             // the most recent failure, kept after recovery
  std::int64_t lastErrorUnixMs = 0;  // 0: never failed
  std::int64_t checkedUnixMs = 0;    // the last answer
};

struct HealthSnapshot {
  std::vector<PluginRecord> plugins;  // by name
  std::int64_t lastPollUnixMs = 0;    // 0: no answer from the kernel yet
  std::string pollError;              // why the last poll got no answer (empty: it got one)
};

class HealthMonitor final : public health::Readiness {
 public:
  using WallClock = std::function<std::int64_t()>;  // ms since the Unix epoch

  HealthMonitor(PluginContext& context, std::set<std::string> optionalPlugins, WallClock clock = {});

  // One round: asks hive.health/1 and updates the records. A kernel that does
  // not answer (busy with a swap, or no provider) leaves them as they were.
  void poll();

  // hive::health::Readiness
  std::vector<health::FailingCheck> failing() const override;

  HealthSnapshot snapshot() const;

 private:
  void record(const health::PluginHealth& answer, std::int64_t now);

  PluginContext& context_;
  const std::set<std::string> optional_;
  WallClock clock_;
  mutable std::mutex mutex_;
  std::map<std::string, PluginRecord> records_;
  std::int64_t lastPollUnixMs_ = 0;
  std::string pollError_;
};

}  // namespace hive::monitoring_engine
