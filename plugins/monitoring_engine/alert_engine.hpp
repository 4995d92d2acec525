// Evaluates the alert rules in process, every `alerts.period`, on the kernel
// registry's own samples (no Prometheus needed). Each series a rule matches is
// one alert:
//
//   inactive --condition holds--> pending --held for `for`--> firing
//   pending/firing --condition fails, or the series is gone--> inactive
//
// Entering `firing` and leaving it (`resolved`) are transitions: each is
// published on hive.bus/1 (topic `alerts`, docs/events.md) — the WebSocket
// relays it — and queued for every webhook. evaluate() runs on the blocking
// pool (a Redis publish waits for the server); snapshot() only copies.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "alert_rules.hpp"
#include "hive/context.hpp"
#include "webhook_sender.hpp"

namespace hive::monitoring_engine {

enum class AlertState { kInactive, kPending, kFiring, kResolved };

struct Alert {
  std::size_t rule = 0;  // index into the engine's rules
  std::map<std::string, std::string> labels;
  AlertState state = AlertState::kInactive;
  double value = 0;                // the last value the condition was checked on (a rate when `rate` is set)
  std::int64_t activeSinceMs = 0;  // pending since
  std::int64_t firingSinceMs = 0;
  std::int64_t resolvedAtMs = 0;
};

struct AlertsSnapshot {
  std::vector<Alert> active;    // pending and firing
  std::vector<Alert> resolved;  // most recent first
  std::int64_t evaluatedAtMs = 0;
};

class AlertEngine {
 public:
  using WallClock = std::function<std::int64_t()>;  // ms since the Unix epoch

  AlertEngine(PluginContext& context, AlertSettings settings, WallClock clock = {});
  ~AlertEngine();

  // One evaluation of every rule on the registry's samples now.
  void evaluate();
  AlertsSnapshot snapshot() const;
  const std::vector<AlertRule>& rules() const { return settings_.rules; }
  // The JSON object of one alert (as in events, webhooks and the route).
  std::string alertJson(const Alert& alert) const;
  // Ends the webhook threads. Idempotent.
  void stop();

 private:
  struct Series {
    Alert alert;
    std::deque<std::pair<std::int64_t, double>> history;  // rate rules: (ms, counter value) in the window
  };
  void step(Series& series, bool condition, double value, std::int64_t now);
  // Logs and counts a transition and leaves its event in outbox_, which
  // evaluate() sends once mutex_ is released (a Redis publish waits).
  void transition(const Alert& alert);
  void send(const std::vector<std::string>& payloads);
  void countFiring();

  PluginContext& context_;
  const AlertSettings settings_;
  WallClock clock_;
  std::vector<std::unique_ptr<WebhookSender>> webhooks_;
  mutable std::mutex mutex_;  // series_, resolved_, evaluatedAtMs_
  std::map<std::string, Series> series_;
  std::deque<Alert> resolved_;
  std::int64_t evaluatedAtMs_ = 0;
  std::vector<std::string> outbox_;
  bool complainedUnpublished_ = false;  // evaluate() calls never overlap
};

}  // namespace hive::monitoring_engine
