// Work the orchestrator runs off the I/O threads (everything that may block on
// storage or on hive.tasks/1), counted so that drained() knows when the
// generation has nothing left running, and whether it is open: a closed
// generation starts no new dispatch and reacts to no new event.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "hive/executor.hpp"

namespace hive::orchestrator {

class Background {
 public:
  explicit Background(Executor& blocking) : blocking_(blocking) {}

  // The object whose members the posted work uses: each item keeps it alive
  // while it runs. Set once, before anything is posted.
  void setOwner(std::weak_ptr<void> owner) { owner_ = std::move(owner); }
  std::weak_ptr<void> owner() const { return owner_; }

  // Runs `work` on the blocking executor, counted.
  void post(std::function<void()> work) {
    ++inFlight_;
    blocking_.post([this, keep = owner_.lock(), work = std::move(work)] {
      work();
      --inFlight_;
    });
  }
  // Work counted that is queued elsewhere (messages waiting in a session).
  void hold(int count = 1) { inFlight_ += count; }
  void release(int count = 1) { inFlight_ -= count; }
  bool idle() const { return inFlight_ == 0; }

  void setOpen(bool open) { open_ = open; }
  bool open() const { return open_; }

  Executor& executor() { return blocking_; }

 private:
  Executor& blocking_;
  std::weak_ptr<void> owner_;
  std::atomic<int> inFlight_{0};
  std::atomic<bool> open_{false};
};

}  // namespace hive::orchestrator
