// hive.watchdog/1 — liveness of plugin threads, provided by the kernel itself
// (provider name "kernel"; SDK ABI 1.2).
//
// A thread that must keep making progress (a store's single writer, a
// notifier, a dispatcher) registers a Heartbeat and beats it as it works. One
// that is busy and has not beaten for longer than its limit is *stalled*: the
// kernel logs it once with its name, counts it
// (hive_watchdog_stalls_total{thread}), and reports it in stalled(), which the
// api plugin's /livez answers with 503 so that a supervisor restarts Hive. A
// thread that beats again recovers (logged too).
//
// A thread waiting for new work is not stalled: it calls idle() before it
// waits, and beat() when it wakes. A thread that never calls idle() must beat
// at least once per limit even when there is nothing to do.
//
// The service is optional: a plugin looks it up in start() and runs without
// heartbeats when there is no provider (the SDK test harness has none).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hive/services.hpp"

namespace hive::watchdog {

// Owned by the plugin that asked for it; made by the kernel (its code stays
// mapped), so destroying it from any thread is safe. Destroying it unregisters
// the thread. beat() and idle() are one atomic store each: call them from the
// watched thread as often as convenient.
class Heartbeat {
 public:
  virtual ~Heartbeat() = default;
  // The thread made progress, or woke up with work to do.
  virtual void beat() = 0;
  // The thread is about to wait for work, for as long as it takes.
  virtual void idle() = 0;
};

struct Stall {
  std::string thread;      // "storage_sqlite/writer", as given to watch()
  std::int64_t forMs = 0;  // how long it has been busy without a beat
};

class Watchdog : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.watchdog", 1};

  // Watches a thread named `name`, by convention "<plugin>/<thread>" (the
  // plugin's name from its context, then [a-z0-9_.-]; at most 96 characters):
  // stalled when busy for longer than `limit` without a beat.
  // It starts busy, as if beat() had just been called. `limit` is clamped to
  // [100 ms, 1 h]; the kernel's `watchdog_period` is the usual choice (period()).
  virtual std::unique_ptr<Heartbeat> watch(const std::string& name, std::chrono::milliseconds limit) = 0;
  // The limit the operator configured (`hive.watchdog_period`, default 10 s).
  virtual std::chrono::milliseconds period() const = 0;
  // Threads stalled now; empty when all make progress.
  virtual std::vector<Stall> stalled() const = 0;
};

}  // namespace hive::watchdog
