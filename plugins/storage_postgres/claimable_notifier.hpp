// onClaimable across processes: one dedicated connection LISTENs on the schema's
// channel. After enqueue, fail and releaseExpired commit, on whichever node they
// ran, their wakeups are published: this same connection sends them as NOTIFYs
// (payload "<queue> <notBeforeMs>"), many at once, in autocommit statements with
// synchronous_commit off. NOTIFY is kept out of the writers' transactions on
// purpose: PostgreSQL serializes the commits of all transactions that NOTIFY
// (a global lock held across the WAL flush), which would undo group commit.
// The thread wakes the local subscribers of a notified queue, at once or, for an
// item not claimable yet, when its notBefore comes. After (re)connecting it wakes
// every subscriber, since notifications sent while it was away are lost.
//
// The subscribers live in a hive::CallbackRegistry: with the plugin's services
// it is shared with the plugin's other generations, so a consumer's onClaimable
// subscription follows a swap of the store on its own (hive/callbacks.hpp).
#pragma once

#include <atomic>
#include <chrono>
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

#include <pqxx/connection>

#include "errors.hpp"
#include "hive/callbacks.hpp"
#include "hive/log.hpp"
#include "hive/metrics.hpp"
#include "hive/services.hpp"
#include "hive/status.hpp"

namespace hive::storage_postgres {

struct NotifierSettings {
  std::string connectionString;  // holds the password
  std::string channel;
  std::chrono::milliseconds backoffInitial{100};
  std::chrono::milliseconds backoffMax{5000};
};

class ClaimableNotifier {
 public:
  // With `services` (the plugin's), subscriptions are shared across the
  // plugin's generations; without, they belong to this notifier alone.
  ClaimableNotifier(NotifierSettings settings, Redactor redact, Logger& log, Counter* reconnects,
                    Counter* dropped, ServiceRegistry* services = nullptr);
  ~ClaimableNotifier();
  ClaimableNotifier(const ClaimableNotifier&) = delete;
  ClaimableNotifier& operator=(const ClaimableNotifier&) = delete;

  // Starts the listener thread and waits (at most `wait`) until it listens, so
  // that a NOTIFY committed after start() returns is not missed.
  void start(std::chrono::milliseconds wait);
  // Joins the thread; no callback runs after this returns.
  void stop();

  // `callback` runs on the listener thread. The subscription has the
  // guarantees of hive::CallbackRegistry: destroying it destroys the callback,
  // waits for a running call (unless destroyed from inside it), and may happen
  // after the notifier is gone.
  std::unique_ptr<Subscription> subscribe(const std::string& queue, std::function<void()> callback);

  // Queues NOTIFYs for committed wakeups; returns at once. Bounded: beyond
  // kMaxPending distinct wakeups the extra ones are dropped (they are hints).
  void publish(const std::set<std::pair<std::string, std::int64_t>>& wakeups);
  static constexpr std::size_t kMaxPending = 10'000;

  // OK while the listener is connected; kUnavailable with the reason otherwise.
  // Never blocks on the database: it is what health() reports.
  Status state() const;

 private:
  void loop();
  void dispatch(const std::string& queue);  // one queue; "" = every queue
  void handlePayload(const std::string& payload);
  void fireDueWakeups();
  void wakeLoop();
  // Sends the outgoing NOTIFYs on `connection`; throws what libpqxx throws.
  void sendOutgoing(pqxx::connection& connection);

  const NotifierSettings settings_;
  const Redactor redact_;
  Logger& log_;
  Counter* const reconnects_;
  Counter* const dropped_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  // Keyed by queue; calls run without mutex_ held.
  const std::unique_ptr<CallbackRegistry<>> subscribers_;
  std::map<std::string, std::chrono::system_clock::time_point> delayed_;  // queue -> earliest wake
  std::set<std::pair<std::string, std::int64_t>> outgoing_;               // wakeups to NOTIFY
  int wakeFd_ = -1;  // eventfd: wakes the loop's poll() for outgoing NOTIFYs and stop()
  bool stopping_ = false;
  bool attempted_ = false;  // the first connect attempt finished
  std::string lastError_ = "not started";
  std::atomic<bool> listening_{false};
  std::thread thread_;
};

}  // namespace hive::storage_postgres
