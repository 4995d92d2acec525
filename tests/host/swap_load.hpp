// Load for the hot-swap tests: threads calling the swap counter without pause
// through a ServiceHandle, counting failed calls and values that went backwards
// (which would mean state lost in a swap).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../plugins/swap_counter_service.hpp"
#include "hive/services.hpp"

namespace hive::test {

class SwapLoad {
 public:
  SwapLoad(const ServiceHandle<SwapCounter>& handle, int threads) {
    for (int t = 0; t < threads; ++t)
      callers_.emplace_back([this, &handle] {
        std::int64_t last = 0;
        while (running_.load(std::memory_order_relaxed)) {
          auto counter = handle.lease();
          if (!counter) {
            failures_.fetch_add(1);
            continue;
          }
          std::int64_t value = counter->next();
          if (value <= last) regressions_.fetch_add(1);
          last = value;
          calls_.fetch_add(1);
        }
      });
  }
  ~SwapLoad() { stop(); }

  void stop() {
    running_ = false;
    for (auto& t : callers_)
      if (t.joinable()) t.join();
  }
  std::int64_t calls() const { return calls_.load(); }
  std::int64_t failures() const { return failures_.load(); }
  std::int64_t regressions() const { return regressions_.load(); }

 private:
  std::atomic<bool> running_{true};
  std::atomic<std::int64_t> calls_{0}, failures_{0}, regressions_{0};
  std::vector<std::thread> callers_;
};

// Distinct files mapped whose path contains `needle`.
inline std::size_t mappingsOf(const std::string& needle) {
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> images;
  for (std::string line; std::getline(maps, line);)
    if (line.find(needle) != std::string::npos) images.insert(line.substr(line.find('/')));
  return images.size();
}

inline std::size_t openFds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

}  // namespace hive::test
