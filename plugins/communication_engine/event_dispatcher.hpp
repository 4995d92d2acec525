// Delivers events to subscriptions on one provider thread, in the order they
// were queued, never concurrently for one subscription. Both transports use it:
// local queues what is published, redis what arrives from the server.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hive/callbacks.hpp"
#include "hive/log.hpp"
#include "hive/metrics.hpp"
#include "hive/services.hpp"
#include "hive/services/bus.hpp"
#include "hive/services/watchdog.hpp"

namespace hive::communication_engine {

class EventDispatcher {
 public:
  // At most `queueBound` events wait for delivery.
  EventDispatcher(std::size_t queueBound, Logger& log, Counter& callbackErrors);
  ~EventDispatcher();
  EventDispatcher(const EventDispatcher&) = delete;
  EventDispatcher& operator=(const EventDispatcher&) = delete;

  // Optional (hive.watchdog/1): beaten as events are delivered, idle while the
  // queue is empty; a subscriber callback that never returns shows as a stall.
  // Set before start().
  void watchWith(std::unique_ptr<watchdog::Heartbeat> heartbeat) { heartbeat_ = std::move(heartbeat); }

  // Shares the subscriptions with the plugin's other generations (the
  // previous one's subscribers receive this one's events after a swap; see
  // hive/callbacks.hpp). Before start() and before any subscribe().
  void shareAcrossGenerations(ServiceRegistry& services);

  void start();
  // Stops the thread; events still queued are not delivered. After it returns no
  // callback is running.
  void stop();

  std::unique_ptr<Subscription> subscribe(std::string pattern,
                                          std::function<void(const bus::Event&)> callback);
  // False (and nothing queued) when `queueBound` events already wait.
  bool enqueue(bus::Event event);
  bool hasRoom() const;
  std::size_t subscriptionCount() const;

 private:
  using Subscribers = CallbackRegistry<const bus::Event&>;
  void reportErrorsOf(Subscribers& subscribers);

  void run();

  const std::size_t queueBound_;
  Logger& log_;
  Counter& callbackErrors_;
  std::unique_ptr<Subscribers> subscribers_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<bus::Event> queue_;
  bool stopping_ = false;
  std::unique_ptr<watchdog::Heartbeat> heartbeat_;
  std::thread thread_;
};

}  // namespace hive::communication_engine
