// Where task_manager reads the time (plugin_common/clock.hpp): timeouts,
// aging, retention and the sweep's periods, tested on a clock moved by hand.
#pragma once

#include <chrono>
#include <cstdint>

#include "plugin_common/clock.hpp"

namespace hive::task_manager {

using plugin_common::Clock;
using plugin_common::SystemClock;

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
