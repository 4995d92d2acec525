#include "limits.hpp"

#include <algorithm>

namespace hive::communication_manager {

void RateLimits::refill(Bucket& bucket, std::chrono::steady_clock::time_point now) const {
  double seconds = std::chrono::duration<double>(now - bucket.updated).count();
  bucket.tokens = std::min(burst_, bucket.tokens + seconds * perSecond_);
  bucket.updated = now;
}

bool RateLimits::take(const std::string& sender) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  auto [it, added] = buckets_.try_emplace(sender, Bucket{burst_, now});
  if (!added) refill(it->second, now);
  if (it->second.tokens < 1) return false;
  it->second.tokens -= 1;
  return true;
}

void RateLimits::forgetIdle() {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    refill(it->second, now);
    it = it->second.tokens >= burst_ ? buckets_.erase(it) : std::next(it);
  }
}

}  // namespace hive::communication_manager
