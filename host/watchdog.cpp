#include "host/watchdog.hpp"

#include <algorithm>

#include "host/metrics.hpp"
#include "host/plugin_host.hpp"
#include "host/service_registry.hpp"

namespace hive::host {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

bool isThreadName(const std::string& name) {
  return !name.empty() && name.size() <= 96 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' || c == '/';
  });
}

}  // namespace

struct KernelWatchdog::Entry {
  std::string name;
  std::int64_t limitNs = 0;
  std::atomic<std::int64_t> lastBeatNs{0};
  std::atomic<bool> idle{false};
  bool reported = false;  // the checker's: this stall was logged
};

struct KernelWatchdog::Shared {
  mutable std::mutex mutex;
  std::set<std::shared_ptr<Entry>> entries;
};

namespace {

class KernelHeartbeat final : public watchdog::Heartbeat {
 public:
  KernelHeartbeat(std::shared_ptr<KernelWatchdog::Shared> shared,
                  std::shared_ptr<KernelWatchdog::Entry> entry)
      : shared_(std::move(shared)), entry_(std::move(entry)) {}
  ~KernelHeartbeat() override {
    std::lock_guard lock(shared_->mutex);
    shared_->entries.erase(entry_);
  }
  KernelHeartbeat(const KernelHeartbeat&) = delete;
  KernelHeartbeat& operator=(const KernelHeartbeat&) = delete;

  void beat() override {
    entry_->lastBeatNs.store(nowNs(), std::memory_order_relaxed);
    entry_->idle.store(false, std::memory_order_release);
  }
  void idle() override { entry_->idle.store(true, std::memory_order_release); }

 private:
  std::shared_ptr<KernelWatchdog::Shared> shared_;
  std::shared_ptr<KernelWatchdog::Entry> entry_;
};

// How long `entry` has been busy without a beat, in ns; 0 when it is fine.
std::int64_t stalledFor(const KernelWatchdog::Entry& entry, std::int64_t now) {
  if (entry.idle.load(std::memory_order_acquire)) return 0;
  std::int64_t silent = now - entry.lastBeatNs.load(std::memory_order_relaxed);
  return silent > entry.limitNs ? silent : 0;
}

}  // namespace

KernelWatchdog::KernelWatchdog(std::chrono::milliseconds period, Logger& log, Metrics& metrics)
    : period_(period), log_(log), metrics_(metrics), shared_(std::make_shared<Shared>()) {}

KernelWatchdog::~KernelWatchdog() { stop(); }

Result<std::shared_ptr<KernelWatchdog>> KernelWatchdog::provide(PluginHost& host, Logger& log) {
  auto dog = std::make_shared<KernelWatchdog>(host.config().watchdogPeriod, log, host.metrics());
  ServiceKey key{watchdog::Watchdog::kServiceId.name, watchdog::Watchdog::kServiceId.major};
  // Order 0: the kernel comes before every plugin; nothing to pin (not a library).
  HIVE_TRY(host.services().provide("kernel", 0, key, dog, nullptr));
  dog->start();
  return dog;
}

void KernelWatchdog::start() {
  std::lock_guard lock(stopMutex_);
  if (checker_.joinable()) return;
  stopping_ = false;
  checker_ = std::thread([this] {
    auto every = std::clamp<std::chrono::milliseconds>(period_ / 4, std::chrono::milliseconds(25),
                                                       std::chrono::seconds(1));
    std::unique_lock lock(stopMutex_);
    while (!stopChanged_.wait_for(lock, every, [this] { return stopping_; })) {
      lock.unlock();
      check();
      lock.lock();
    }
  });
}

void KernelWatchdog::stop() {
  {
    std::lock_guard lock(stopMutex_);
    stopping_ = true;
  }
  stopChanged_.notify_all();
  if (checker_.joinable()) checker_.join();
}

std::unique_ptr<watchdog::Heartbeat> KernelWatchdog::watch(const std::string& name,
                                                           std::chrono::milliseconds limit) {
  auto entry = std::make_shared<Entry>();
  entry->name = isThreadName(name) ? name : "unnamed";
  limit = std::clamp<std::chrono::milliseconds>(limit, std::chrono::milliseconds(100), std::chrono::hours(1));
  entry->limitNs = std::chrono::duration_cast<std::chrono::nanoseconds>(limit).count();
  entry->lastBeatNs = nowNs();
  {
    std::lock_guard lock(shared_->mutex);
    shared_->entries.insert(entry);
  }
  return std::make_unique<KernelHeartbeat>(shared_, std::move(entry));
}

std::vector<watchdog::Stall> KernelWatchdog::stalled() const {
  std::vector<watchdog::Stall> out;
  std::int64_t now = nowNs();
  std::lock_guard lock(shared_->mutex);
  for (const auto& entry : shared_->entries)
    if (std::int64_t silent = stalledFor(*entry, now); silent > 0)
      out.push_back({entry->name, silent / 1'000'000});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.thread < b.thread; });
  return out;
}

void KernelWatchdog::check() {
  std::vector<std::pair<std::shared_ptr<Entry>, std::int64_t>> changed;
  std::int64_t now = nowNs();
  std::size_t stalledNow = 0;
  {
    std::lock_guard lock(shared_->mutex);
    for (const auto& entry : shared_->entries) {
      std::int64_t silent = stalledFor(*entry, now);
      stalledNow += silent > 0 ? 1 : 0;
      if ((silent > 0) != entry->reported) {
        entry->reported = silent > 0;
        changed.emplace_back(entry, silent);
      }
    }
  }
  // Logged and counted outside the lock: heartbeats being made or dropped never wait on a log sink.
  for (const auto& [entry, silent] : changed) {
    if (silent > 0) {
      log_.error("watchdog: thread '" + entry->name + "' has made no progress for " +
                 std::to_string(silent / 1'000'000) + " ms (limit " +
                 std::to_string(entry->limitNs / 1'000'000) + " ms); /livez answers 503");
      metrics_
          .counter("hive_watchdog_stalls_total", "Plugin threads found making no progress",
                   {{"thread", entry->name}})
          .increment();
    } else {
      log_.info("watchdog: thread '" + entry->name + "' makes progress again");
    }
  }
  metrics_.gauge("hive_watchdog_stalled_threads", "Plugin threads stalled now")
      .set(static_cast<double>(stalledNow));
}

}  // namespace hive::host
