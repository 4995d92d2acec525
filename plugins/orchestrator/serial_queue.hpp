// Runs posted work one item at a time, in order, on an executor.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "hive/executor.hpp"

namespace hive::orchestrator {

class SerialQueue : public std::enable_shared_from_this<SerialQueue> {
 public:
  explicit SerialQueue(Executor& executor) : executor_(executor) {}
  void post(std::function<void()> work);

 private:
  void drain();
  Executor& executor_;
  std::mutex mutex_;
  std::deque<std::function<void()>> queue_;
  bool running_ = false;
};

}  // namespace hive::orchestrator
