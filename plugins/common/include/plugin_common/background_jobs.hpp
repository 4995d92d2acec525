// Work a plugin runs on the kernel's executors, counted so that the plugin can
// answer drained() and wait for it in stop(): once refused (a drain began),
// nothing new starts, and what runs keeps the count up until it ends.
// Header-only, shared by in-tree plugins (not part of the SDK).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>

#include "hive/executor.hpp"

namespace hive::plugin_common {

class BackgroundJobs {
 public:
  // A token counted as one job until the last copy is dropped; null once
  // refusing. For work that waits on someone else's callback without a thread.
  std::shared_ptr<void> hold() {
    std::lock_guard lock(mutex_);
    if (refusing_) return nullptr;
    ++jobs_;
    return std::shared_ptr<void>(static_cast<void*>(this), [this](void*) {
      std::lock_guard lock(mutex_);
      if (--jobs_ == 0) idle_.notify_all();
    });
  }
  // Runs `job` on `executor`, counted; false once refusing.
  bool post(Executor& executor, std::function<void()> job) {
    std::shared_ptr<void> token = hold();
    if (!token) return false;
    executor.post([token = std::move(token), job = std::move(job)]() mutable {
      job();
      job = nullptr;  // its captures go before the token lets a drain end
      token.reset();
    });
    return true;
  }
  void accept() {
    std::lock_guard lock(mutex_);
    refusing_ = false;
  }
  void refuse() {
    std::lock_guard lock(mutex_);
    refusing_ = true;
  }
  bool idle() const {
    std::lock_guard lock(mutex_);
    return jobs_ == 0;
  }
  // Refuses new work and waits for what runs.
  void stopAndWait() {
    std::unique_lock lock(mutex_);
    refusing_ = true;
    idle_.wait(lock, [this] { return jobs_ == 0; });
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::size_t jobs_ = 0;
  bool refusing_ = false;
};

}  // namespace hive::plugin_common
