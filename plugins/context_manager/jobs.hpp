// Work this plugin posted to the blocking executor, counted, so that stop()
// waits for the last one and drained() knows when none is left.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <utility>

#include "hive/executor.hpp"
#include "hive/log.hpp"

namespace hive::context_manager {

class Jobs {
 public:
  Jobs(Executor& executor, Logger& log) : executor_(executor), log_(log) {}
  ~Jobs() { closeAndWait(); }

  // False once closing: the job was not posted.
  bool post(std::function<void()> job) {
    {
      std::lock_guard lock(mutex_);
      if (closing_) return false;
      ++running_;
    }
    executor_.post([this, job = std::move(job)] {
      try {
        job();
      } catch (const std::exception& error) {
        // A throwing library (hnswlib, Boost.JSON) must not end the process.
        log_.error(std::string("context job failed: ") + error.what());
      }
      std::lock_guard lock(mutex_);
      if (--running_ == 0) idle_.notify_all();
    });
    return true;
  }
  void refuse() {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  bool idle() const {
    std::lock_guard lock(mutex_);
    return running_ == 0;
  }
  void closeAndWait() {
    std::unique_lock lock(mutex_);
    closing_ = true;
    idle_.wait(lock, [this] { return running_ == 0; });
  }

 private:
  Executor& executor_;
  Logger& log_;
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::size_t running_ = 0;
  bool closing_ = false;
};

}  // namespace hive::context_manager
