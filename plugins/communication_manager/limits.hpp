// Per-sender rate limits: a token bucket per agent or client, on this node.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace hive::communication_manager {

class RateLimits {
 public:
  RateLimits(double perSecond, double burst) : perSecond_(perSecond), burst_(burst) {}

  // Takes one token of `sender`'s bucket; false when it is empty.
  bool take(const std::string& sender);
  // Forgets buckets that are full again (idle senders).
  void forgetIdle();

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point updated;
  };
  void refill(Bucket& bucket, std::chrono::steady_clock::time_point now) const;

  const double perSecond_;
  const double burst_;
  std::mutex mutex_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace hive::communication_manager
