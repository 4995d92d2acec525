// Delivers alert transitions to one webhook: HTTP POST of the JSON, on a thread
// of its own, from a bounded queue. A webhook that is down costs a counter and
// that thread's time, never the evaluator's: when its queue is full the
// newest transition is dropped (counted), and every attempt is bounded by the
// webhook's timeout. Retries back off 1 s, 2 s, 4 s …; stop() interrupts them.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "alert_rules.hpp"
#include "hive/log.hpp"
#include "hive/metrics.hpp"
#include "hive/status.hpp"

namespace hive::monitoring_engine {

// One HTTP/1.1 POST with a deadline for the whole exchange (resolve, connect,
// send, read the status line); OK for a 2xx answer.
Status postJson(const Webhook& webhook, const std::string& body);

class WebhookSender {
 public:
  WebhookSender(Webhook webhook, Logger& log, Metrics& metrics);
  ~WebhookSender();
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // Queues one delivery; false (and counted as dropped) when the queue is full.
  bool enqueue(std::string body);
  // Ends the thread; queued deliveries are dropped. Idempotent.
  void stop();

 private:
  void run();

  const Webhook webhook_;
  Logger& log_;
  Counter& delivered_;
  Counter& failed_;
  Counter& dropped_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace hive::monitoring_engine
