// Route providers being swapped, as hive.swaps/1 tells: while one is, the api
// takes no lease on it, so that no I/O thread of ours waits on the kernel's
// gate (with one I/O thread that would stall the very closes the swap waits
// for). Requests for it wait here, off every thread, and go on when the swap
// ended; WebSocket upgrades to it are refused (503, the client reconnects).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace hive::api {

class SwapGate {
 public:
  // true: go on (the swap ended); false: give up (the api stops).
  using Resume = std::function<void(bool)>;

  // Runs `take` (which takes a lease on `provider`) now and returns true, or,
  // while `provider` is being swapped, keeps `later` for ended() and returns
  // false. An empty `later` is not kept.
  template <typename Take>
  bool admit(const std::string& provider, Take&& take, Resume later = {}) {
    {
      std::lock_guard lock(mutex_);
      if (swapping_.contains(provider)) {
        if (later) waiting_[provider].push_back(std::move(later));
        return false;
      }
      ++taking_;
    }
    Leave leave{*this};
    take();
    return true;
  }

  // kComing: from now on no lease on `provider` is taken; returns once those
  // being taken are (the kernel gates the provider after this returns).
  void coming(const std::string& provider) {
    std::unique_lock lock(mutex_);
    swapping_.insert(provider);
    taken_.wait(lock, [&] { return taking_ == 0; });
  }

  // kEnded: what waited for `provider`, to run (on an executor: not the
  // kernel's thread).
  std::vector<Resume> ended(const std::string& provider) {
    std::lock_guard lock(mutex_);
    swapping_.erase(provider);
    auto found = waiting_.find(provider);
    if (found == waiting_.end()) return {};
    auto resumed = std::move(found->second);
    waiting_.erase(found);
    return resumed;
  }

  // Everything still waiting (the api stops).
  std::vector<Resume> takeAll() {
    std::lock_guard lock(mutex_);
    swapping_.clear();
    std::vector<Resume> all;
    for (auto& [provider, resumes] : waiting_)
      for (auto& resume : resumes) all.push_back(std::move(resume));
    waiting_.clear();
    return all;
  }

 private:
  struct Leave {
    SwapGate& gate;
    ~Leave() {
      {
        std::lock_guard lock(gate.mutex_);
        --gate.taking_;
      }
      gate.taken_.notify_all();
    }
  };

  std::mutex mutex_;
  std::condition_variable taken_;
  std::size_t taking_ = 0;
  std::set<std::string, std::less<>> swapping_;
  std::map<std::string, std::vector<Resume>, std::less<>> waiting_;
};

}  // namespace hive::api
