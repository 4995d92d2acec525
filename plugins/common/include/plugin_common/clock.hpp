// Where a plugin reads the time: classes that need it are given a Clock; the
// plugin passes the system clock, tests one they move by hand, so that what
// depends on time passing (leases, heartbeats, breakers, retention) is tested
// without waiting for it. Header-only, shared by in-tree plugins (not SDK).
#pragma once

#include <cstdint>

#include "plugin_common/clock_ids.hpp"

namespace hive::plugin_common {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch (what task and agent records hold). Thread-safe.
  virtual std::int64_t nowMs() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t nowMs() const override { return plugin_common::nowMs(); }
};

}  // namespace hive::plugin_common
