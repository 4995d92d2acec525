// Where the orchestrator's time comes from: heartbeats, circuit breakers,
// claim windows, reconnect waits, record retention and the timestamps it
// writes. The plugin runs on the system clock; tests move a manual one, so
// that what depends on time passing is tested without waiting for it.
#pragma once

#include <cstdint>

#include "plugin_common/clock_ids.hpp"

namespace hive::orchestrator {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch. Thread-safe.
  virtual std::int64_t nowMs() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t nowMs() const override { return plugin_common::nowMs(); }
};

}  // namespace hive::orchestrator
