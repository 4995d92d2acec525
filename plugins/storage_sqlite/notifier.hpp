// onClaimable wake-ups. The writer reports, after each commit, the queues that
// got a claimable item and the times at which items will become claimable (a
// notBefore, a retryAfter, a lease expiry); the notifier's own thread runs the
// subscribers' callbacks, without any lock of the store held.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "hive/callbacks.hpp"
#include "hive/services.hpp"
#include "hive/services/watchdog.hpp"
#include "operations.hpp"

namespace hive::storage_sqlite {

class Notifier {
 public:
  // The earliest time after `nowMs` at which an item of the queue becomes
  // claimable, 0 when none; asked when a subscription starts and after each
  // timed wake-up (runs on the notifier thread).
  using NextClaimableAt = std::function<std::int64_t(const std::string& queue, std::int64_t nowMs)>;

  // With `services`, the subscriptions are shared with the plugin's other
  // generations: a consumer's onClaimable follows a swap of the store on its
  // own (hive/callbacks.hpp).
  explicit Notifier(NextClaimableAt nextClaimableAt, ServiceRegistry* services = nullptr);
  ~Notifier();  // stops
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Optional (hive.watchdog/1): beaten as the thread works, idle while it
  // waits. Set before start().
  void watchWith(std::unique_ptr<watchdog::Heartbeat> heartbeat) { heartbeat_ = std::move(heartbeat); }

  void start();
  // After stop() no callback runs; subscriptions may still be destroyed later.
  void stop();

  std::unique_ptr<Subscription> subscribe(const std::string& queue, std::function<void()> callback);
  void publish(const WriteEffects& effects);

 private:
  void run();

  // Subscribers by queue; the registry calls them without this mutex held.
  std::unique_ptr<CallbackRegistry<>> subscribers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::set<std::string> pending_;               // queues to wake now
  std::map<std::string, std::int64_t> timers_;  // queue -> next wake-up (epoch ms)
  std::set<std::string> recheck_;               // queues whose next time to look up
  NextClaimableAt nextClaimableAt_;
  std::unique_ptr<watchdog::Heartbeat> heartbeat_;
  std::thread thread_;
};

}  // namespace hive::storage_sqlite
