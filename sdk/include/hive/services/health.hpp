// hive.health/1 and hive.readiness/1 (SDK ABI 2.2) — is each plugin healthy,
// and should this process receive traffic now?
//
// hive.health/1 is provided by the kernel itself (provider "kernel"): check()
// calls Plugin::health() of every started plugin. hive.readiness/1 is provided
// by a plugin that asks it periodically and remembers the answers over time
// (monitoring_engine); the `api` plugin's GET /readyz answers 503 with its
// failing checks while there are any.
//
// For a plugin author, what health() should do: answer from state the plugin
// already keeps (the last connection error, whether a listener is connected),
// or with one short round trip bounded by a timeout. It is called every few
// seconds (monitoring_engine's `health_period`) on a blocking-pool thread,
// never at the same time as the plugin's start(), stop() or a swap — and while
// it runs, those wait. Report a lost server as kUnavailable with a message an
// operator can act on ("redis 127.0.0.1:6379: connection refused"), without
// secrets. Report OK again once the plugin serves again by itself: readiness
// follows the answers, nobody restarts the plugin.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hive/services.hpp"
#include "hive/status.hpp"

namespace hive::health {

// One started plugin's answer.
struct PluginHealth {
  std::string plugin;
  std::uint64_t generation = 0;  // the generation that answered
  Status status;                 // what its health() returned
};

class Checker : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.health", 1};

  // health() of every started plugin, in start order. kUnavailable, at once,
  // while the kernel is in a lifecycle change (start-up, a swap, a config
  // reload, stop): ask again at the next period. Blocks while the plugins'
  // health() run: call it on the blocking executor.
  virtual Result<std::vector<PluginHealth>> check() = 0;
};

// A check that makes the process unready.
struct FailingCheck {
  std::string name;              // the plugin whose health fails
  std::string reason;            // its health() message
  std::int64_t sinceUnixMs = 0;  // failing since, wall clock (ms since the Unix epoch)
};

class Readiness : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.readiness", 1};

  // The failing checks that make this process unready now; empty when ready.
  // Never blocks (it is the last poll's result): GET /readyz calls it on an
  // I/O thread.
  virtual std::vector<FailingCheck> failing() const = 0;
};

}  // namespace hive::health
