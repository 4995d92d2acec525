// Executors and timers lent by the kernel. Work posted by a plugin runs on kernel
// threads; the kernel waits for it (and parks every thread in kernel code) before
// it unloads the plugin, so a posted std::function never outlives its library.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

namespace hive {

class Executor {
 public:
  virtual ~Executor() = default;
  // Runs `work` later on one of the executor's threads. Never runs it inline.
  // `work` must not throw; an escaping exception is logged and swallowed by the kernel.
  virtual void post(std::function<void()> work) = 0;
  virtual std::size_t threadCount() const = 0;
};

// A scheduled callback. Destroying the handle cancels it; after the destructor
// returns the callback is not running and will not run.
class Timer {
 public:
  virtual ~Timer() = default;
  virtual void cancel() = 0;
};

class Timers {
 public:
  virtual ~Timers() = default;
  // Calls `callback` once after `delay` on the I/O executor.
  [[nodiscard]] virtual std::unique_ptr<Timer> after(std::chrono::milliseconds delay,
                                                     std::function<void()> callback) = 0;
  // Calls `callback` every `period` (first call after one period) until cancelled.
  // Calls never overlap; a slow callback delays the next one.
  [[nodiscard]] virtual std::unique_ptr<Timer> every(std::chrono::milliseconds period,
                                                     std::function<void()> callback) = 0;
};

}  // namespace hive
