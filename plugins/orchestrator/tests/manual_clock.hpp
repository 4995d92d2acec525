// A clock that moves only when a test moves it: what depends on time passing
// (heartbeats, breakers, claim windows, retention) is tested without sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "clock.hpp"

namespace hive::orchestrator {

class ManualClock final : public Clock {
 public:
  std::int64_t nowMs() const override { return now_.load(); }
  void set(std::int64_t ms) { now_ = ms; }
  void advance(std::chrono::milliseconds by) { now_ += by.count(); }

 private:
  // Starts at the wall clock: the store stamps its records with it.
  std::atomic<std::int64_t> now_{plugin_common::nowMs()};
};

}  // namespace hive::orchestrator
