#include "notifier.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <utility>

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

struct Notifier::Entry {
  std::string queue;
  std::function<void()> callback;
  std::mutex running;  // held while the callback runs
  std::atomic<bool> active{true};
};

struct Notifier::Core {
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::thread::id thread;
  std::multimap<std::string, std::shared_ptr<Entry>> entries;  // by queue
  std::set<std::string> pending;                               // queues to wake now
  std::map<std::string, std::int64_t> timers;                  // queue -> next wake-up (epoch ms)
  std::set<std::string> recheck;                               // queues whose next time to look up
};

class Notifier::Handle final : public Subscription {
 public:
  Handle(std::weak_ptr<Core> core, std::shared_ptr<Entry> entry)
      : core_(std::move(core)), entry_(std::move(entry)) {}
  ~Handle() override {
    if (auto core = core_.lock()) {
      std::lock_guard lock(core->mutex);
      for (auto it = core->entries.lower_bound(entry_->queue);
           it != core->entries.end() && it->first == entry_->queue; ++it) {
        if (it->second == entry_) {
          core->entries.erase(it);
          break;
        }
      }
      if (core->thread == std::this_thread::get_id()) {
        // Destroyed from inside its own callback: it is running now and will not run again.
        entry_->active = false;
        return;
      }
    }
    std::lock_guard running(entry_->running);
    entry_->active = false;
    // The callback belongs to the subscriber's library, which may be unloaded
    // right after: it goes now, not when the notifier thread lets go of it.
    entry_->callback = nullptr;
  }

 private:
  std::weak_ptr<Core> core_;
  std::shared_ptr<Entry> entry_;
};

Notifier::Notifier(NextClaimableAt nextClaimableAt)
    : core_(std::make_shared<Core>()), nextClaimableAt_(std::move(nextClaimableAt)) {}

Notifier::~Notifier() { stop(); }

void Notifier::start() {
  {
    std::lock_guard lock(core_->mutex);
    core_->stopping = false;
  }
  thread_ = std::thread([this] { run(); });
}

void Notifier::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(core_->mutex);
    core_->stopping = true;
  }
  core_->wake.notify_all();
  thread_.join();
}

std::unique_ptr<Subscription> Notifier::subscribe(const std::string& queue, std::function<void()> callback) {
  auto entry = std::make_shared<Entry>();
  entry->queue = queue;
  entry->callback = std::move(callback);
  {
    std::lock_guard lock(core_->mutex);
    core_->entries.emplace(queue, entry);
    core_->recheck.insert(queue);  // items already waiting for their notBefore or lease expiry
  }
  core_->wake.notify_all();
  return std::make_unique<Handle>(core_, std::move(entry));
}

void Notifier::publish(const WriteEffects& effects) {
  bool wake = false;
  {
    std::lock_guard lock(core_->mutex);
    for (const auto& queue : effects.claimable) {
      if (core_->entries.count(queue) == 0) continue;
      wake |= core_->pending.insert(queue).second;
    }
    for (const auto& [queue, at] : effects.claimableAt) {
      if (core_->entries.count(queue) == 0) continue;
      auto [it, inserted] = core_->timers.try_emplace(queue, at);
      if (inserted || at < it->second) {
        it->second = at;
        wake = true;
      }
    }
  }
  if (wake) core_->wake.notify_all();
}

void Notifier::run() {
  Core& core = *core_;
  std::unique_lock lock(core.mutex);
  core.thread = std::this_thread::get_id();
  while (!core.stopping) {
    std::int64_t now = nowMs();
    std::set<std::string> timed;
    for (auto it = core.timers.begin(); it != core.timers.end();) {
      if (it->second <= now) {
        core.pending.insert(it->first);
        timed.insert(it->first);
        it = core.timers.erase(it);
      } else {
        ++it;
      }
    }
    if (core.pending.empty() && core.recheck.empty()) {
      std::int64_t next = 0;
      for (const auto& [queue, at] : core.timers)
        if (next == 0 || at < next) next = at;
      if (heartbeat_) heartbeat_->idle();
      if (next == 0) {
        core.wake.wait(lock);
      } else {
        // Wake-up times come from stored data: the wait is clamped, since a
        // wait_for of ~2^63 ms overflows into a busy loop holding this mutex.
        core.wake.wait_for(lock,
                           std::chrono::milliseconds(std::clamp<std::int64_t>(next - now, 1, kMaxWaitMs)));
      }
      if (heartbeat_) heartbeat_->beat();
      continue;
    }
    std::set<std::string> queues = std::move(core.pending);
    core.pending.clear();
    std::set<std::string> recheck = std::move(core.recheck);
    core.recheck.clear();
    recheck.insert(timed.begin(), timed.end());
    std::vector<std::shared_ptr<Entry>> targets;
    for (const auto& queue : queues)
      for (auto it = core.entries.lower_bound(queue); it != core.entries.end() && it->first == queue; ++it)
        targets.push_back(it->second);
    lock.unlock();

    for (auto& entry : targets) {
      std::lock_guard running(entry->running);
      if (!entry->active) {
        entry->callback = nullptr;
        continue;
      }
      try {
        entry->callback();
      } catch (...) {
        // A subscriber's exception must not end the wake-ups of the others.
      }
      if (!entry->active) entry->callback = nullptr;  // unsubscribed from inside the callback
    }
    targets.clear();
    std::map<std::string, std::int64_t> next;
    for (const auto& queue : recheck) {
      std::int64_t at = nextClaimableAt_ ? nextClaimableAt_(queue, nowMs()) : 0;
      if (at > 0) next[queue] = at;
    }
    if (heartbeat_) heartbeat_->beat();
    lock.lock();
    for (const auto& [queue, at] : next) {
      if (core.entries.count(queue) == 0) continue;
      auto [it, inserted] = core.timers.try_emplace(queue, at);
      if (!inserted && at < it->second) it->second = at;
    }
  }
  if (heartbeat_) heartbeat_->idle();  // stopped is not stalled, even if this object outlives its thread
  core.thread = {};
}

}  // namespace hive::storage_sqlite
