// Deterministic stand-ins for the kernel's executors and timers: nothing runs until
// the test says so (PluginHarness::runPending / advanceTime).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "hive/executor.hpp"

namespace hive::testing::detail {

// A FIFO of posted work. post() may be called from any thread; the test's thread runs it.
class ManualExecutor final : public Executor {
 public:
  // hive::Executor
  void post(std::function<void()> work) override;
  std::size_t threadCount() const override { return 1; }

  // Runs the oldest item; false when the queue is empty.
  bool runOne();
  // Drops queued work without running it (teardown: the work may hold plugin code).
  void clear();

 private:
  std::mutex mutex_;
  std::deque<std::function<void()>> queue_;
};

// Timers on a manual clock that starts at 0.
class ManualTimers final : public Timers {
 public:
  ManualTimers();

  // hive::Timers
  std::unique_ptr<Timer> after(std::chrono::milliseconds delay, std::function<void()> callback) override;
  std::unique_ptr<Timer> every(std::chrono::milliseconds period, std::function<void()> callback) override;

  // Fires the earliest timer due at or before `until` (ties: the one armed first) with
  // the clock set to its due time; false when none is due.
  bool fireNext(std::chrono::milliseconds until);
  void setNow(std::chrono::milliseconds now);
  std::chrono::milliseconds now() const;
  void clear();

 private:
  struct Entry {
    std::uint64_t id = 0;
    std::chrono::milliseconds due{0};
    std::uint64_t order = 0;              // arming order, to break ties between equal due times
    std::chrono::milliseconds period{0};  // zero for a one-shot timer
    // Shared so that a callback that cancels its own timer keeps running safely.
    std::shared_ptr<std::function<void()>> callback;
  };
  // Shared with the Timer handles, which may outlive this object (a test's handle).
  struct Shared {
    mutable std::mutex mutex;
    std::vector<Entry> entries;
    std::chrono::milliseconds now{0};
    std::uint64_t nextId = 1;
    std::uint64_t nextOrder = 1;
  };
  class Handle;

  std::unique_ptr<Timer> arm(std::chrono::milliseconds delay, std::chrono::milliseconds period,
                             std::function<void()> callback);

  std::shared_ptr<Shared> shared_;
};

}  // namespace hive::testing::detail
