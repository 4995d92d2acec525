#include "notifier.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <utility>

#include "plugin_common/thread_name.hpp"

namespace hive::storage_sqlite {

namespace {
// The longest single sleep: a later wake-up is looked at again after it.
constexpr std::int64_t kMaxWaitMs = 60'000;

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Notifier::Notifier(NextClaimableAt nextClaimableAt, ServiceRegistry* services)
    : subscribers_(services ? std::make_unique<CallbackRegistry<>>(*services, "store.claimable")
                            : std::make_unique<CallbackRegistry<>>()),
      nextClaimableAt_(std::move(nextClaimableAt)) {
  // Subscribers carried over from the previous generation may have items
  // waiting for their notBefore or lease expiry: look them up at start.
  for (auto& queue : subscribers_->keys()) recheck_.insert(std::move(queue));
}

Notifier::~Notifier() { stop(); }

void Notifier::start() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  thread_ = std::thread([this] {
    plugin_common::nameThisThread("sqlite-notify");
    run();
  });
}

void Notifier::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::unique_ptr<Subscription> Notifier::subscribe(const std::string& queue, std::function<void()> callback) {
  auto subscription = subscribers_->subscribe(std::move(callback), queue);
  {
    std::lock_guard lock(mutex_);
    recheck_.insert(queue);  // items already waiting for their notBefore or lease expiry
  }
  wake_.notify_all();
  return subscription;
}

void Notifier::publish(const WriteEffects& effects) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    for (const auto& queue : effects.claimable) {
      if (!subscribers_->contains(queue)) continue;
      wake |= pending_.insert(queue).second;
    }
    for (const auto& [queue, at] : effects.claimableAt) {
      if (!subscribers_->contains(queue)) continue;
      auto [it, inserted] = timers_.try_emplace(queue, at);
      if (inserted || at < it->second) {
        it->second = at;
        wake = true;
      }
    }
  }
  if (wake) wake_.notify_all();
}

void Notifier::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    std::int64_t now = nowMs();
    std::set<std::string> timed;
    for (auto it = timers_.begin(); it != timers_.end();) {
      if (it->second <= now) {
        pending_.insert(it->first);
        timed.insert(it->first);
        it = timers_.erase(it);
      } else {
        ++it;
      }
    }
    if (pending_.empty() && recheck_.empty()) {
      std::int64_t next = 0;
      for (const auto& [queue, at] : timers_)
        if (next == 0 || at < next) next = at;
      if (heartbeat_) heartbeat_->idle();
      if (next == 0) {
        wake_.wait(lock);
      } else {
        // Wake-up times come from stored data: the wait is clamped, since a
        // wait_for of ~2^63 ms overflows into a busy loop holding this mutex.
        wake_.wait_for(lock, std::chrono::milliseconds(std::clamp<std::int64_t>(next - now, 1, kMaxWaitMs)));
      }
      if (heartbeat_) heartbeat_->beat();
      continue;
    }
    std::set<std::string> queues = std::exchange(pending_, {});
    std::set<std::string> recheck = std::exchange(recheck_, {});
    recheck.insert(timed.begin(), timed.end());
    lock.unlock();

    // A subscriber's exception must not end the wake-ups of the others; the
    // registry catches it (wake-ups are hints: nothing to report).
    subscribers_->fireWhere([&](const std::string& queue) { return queues.count(queue) != 0; });
    std::map<std::string, std::int64_t> next;
    for (const auto& queue : recheck) {
      std::int64_t at = nextClaimableAt_ ? nextClaimableAt_(queue, nowMs()) : 0;
      if (at > 0) next[queue] = at;
    }
    if (heartbeat_) heartbeat_->beat();
    lock.lock();
    for (const auto& [queue, at] : next) {
      if (!subscribers_->contains(queue)) continue;
      auto [it, inserted] = timers_.try_emplace(queue, at);
      if (!inserted && at < it->second) it->second = at;
    }
  }
  if (heartbeat_) heartbeat_->idle();  // stopped is not stalled, even if this object outlives its thread
}

}  // namespace hive::storage_sqlite
