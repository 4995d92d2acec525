#include "webhook_sender.hpp"

#include <chrono>

#include "plugin_common/http_client.hpp"

namespace hive::monitoring_engine {

Status postJson(const Webhook& webhook, const std::string& body) {
  int status =
      HIVE_TRY(plugin_common::postJson(webhook.endpoint, "hive-monitoring-engine", {}, body,
                                       std::chrono::steady_clock::now() + webhook.timeout, webhook.caFile));
  if (status < 200 || status > 299) return unavailable("answered " + std::to_string(status));
  return okStatus();
}

WebhookSender::WebhookSender(Webhook webhook, Logger& log, Metrics& metrics)
    : webhook_(std::move(webhook)),
      log_(log),
      delivered_(metrics.counter("hive_alert_webhook_deliveries_total",
                                 "Alert transitions a webhook accepted (2xx)", {{"webhook", webhook_.name}})),
      failed_(metrics.counter("hive_alert_webhook_failures_total",
                              "Alert webhook attempts that failed (refused, timed out, not 2xx)",
                              {{"webhook", webhook_.name}})),
      dropped_(
          metrics.counter("hive_alert_webhook_dropped_total",
                          "Alert transitions not delivered: the webhook's queue was full or retries ran out",
                          {{"webhook", webhook_.name}})),
      thread_([this] { run(); }) {}

WebhookSender::~WebhookSender() { stop(); }

bool WebhookSender::enqueue(std::string body) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_ && queue_.size() < webhook_.queue) {
      queue_.push_back(std::move(body));
      wake_.notify_one();
      return true;
    }
  }
  dropped_.increment();
  return false;
}

void WebhookSender::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WebhookSender::run() {
  std::unique_lock lock(mutex_);
  bool complained = false;
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::string body = std::move(queue_.front());
    queue_.pop_front();
    bool delivered = false;
    for (int attempt = 0; attempt <= webhook_.retries && !stopping_; ++attempt) {
      if (attempt > 0) {
        auto backoff = std::chrono::seconds(1) * (1 << std::min(attempt - 1, 5));
        if (wake_.wait_for(lock, backoff, [&] { return stopping_; })) return;
      }
      lock.unlock();
      Status sent = postJson(webhook_, body);
      lock.lock();
      if (sent.ok()) {
        delivered = true;
        delivered_.increment();
        if (complained) log_.info("alert webhook '" + webhook_.name + "' delivers again");
        complained = false;
        break;
      }
      failed_.increment();
      if (!complained)
        log_.warn("alert webhook '" + webhook_.name + "': " + sent.message() + " (retrying; said once)");
      complained = true;
    }
    if (!delivered && !stopping_) dropped_.increment();
  }
}

}  // namespace hive::monitoring_engine
