// Where task_manager reads the time. Every class that needs it is given a
// Clock: the plugin passes the system clock, tests one they move by hand, so
// that timeouts, aging, retention and the sweep's periods are tested without
// waiting for time to pass.
#pragma once

#include <chrono>
#include <cstdint>

#include "plugin_common/clock_ids.hpp"

namespace hive::task_manager {

class Clock {
 public:
  virtual ~Clock() = default;
  // Unix epoch milliseconds: what task records hold, and what the periods of
  // the sweep are measured on.
  virtual std::int64_t nowMs() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t nowMs() const override { return plugin_common::nowMs(); }
};

// A pass that runs every `period`: due() says whether it is time, and starts
// the next period when it is. A wall clock set back makes it due at once
// rather than silent until the clock catches up.
class Period {
 public:
  bool due(const Clock& clock, std::chrono::milliseconds period) {
    std::int64_t now = clock.nowMs();
    if (now >= last_ && now - last_ < period.count()) return false;
    last_ = now;
    return true;
  }

 private:
  std::int64_t last_ = 0;
};

}  // namespace hive::task_manager
