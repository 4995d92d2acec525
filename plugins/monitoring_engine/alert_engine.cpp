#include "alert_engine.hpp"

#include <chrono>
#include <cmath>
#include <set>

#include <boost/json.hpp>

#include "hive/services/bus.hpp"
#include "plugin_common/metric_samples.hpp"

namespace hive::monitoring_engine {

using plugin_common::parseSamples;
using plugin_common::Sample;

namespace {

std::int64_t systemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string seriesKey(const std::string& rule, const std::map<std::string, std::string>& labels) {
  std::string key = rule + '{';
  for (const auto& [name, value] : labels) key += name + "=\"" + value + "\",";
  return key + '}';
}

bool matches(const AlertRule& rule, const Sample& sample) {
  if (sample.name != rule.metric) return false;
  for (const auto& [name, value] : rule.labels) {
    auto found = sample.labels.find(name);
    if (found == sample.labels.end() || found->second != value) return false;
  }
  return true;
}

std::string_view stateName(AlertState state) {
  switch (state) {
    case AlertState::kInactive: return "inactive";
    case AlertState::kPending: return "pending";
    case AlertState::kFiring: return "firing";
    case AlertState::kResolved: return "resolved";
  }
  return "inactive";
}

}  // namespace

AlertEngine::AlertEngine(PluginContext& context, AlertSettings settings, WallClock clock)
    : context_(context), settings_(std::move(settings)), clock_(clock ? std::move(clock) : systemNowMs) {
  for (const auto& webhook : settings_.webhooks)
    webhooks_.push_back(std::make_unique<WebhookSender>(webhook, context_.log(), context_.metrics()));
  for (const auto& rule : settings_.rules)
    context_.metrics()
        .gauge("hive_alerts_firing", "Alerts firing now, by rule",
               {{"rule", rule.name}, {"severity", std::string(severityName(rule.severity))}})
        .set(0);
}

AlertEngine::~AlertEngine() { stop(); }

void AlertEngine::stop() {
  for (auto& webhook : webhooks_) webhook->stop();
}

void AlertEngine::evaluate() {
  std::vector<Sample> samples = parseSamples(context_.metrics().exposition());
  std::int64_t now = clock_();
  std::vector<std::string> payloads;
  {
    std::lock_guard lock(mutex_);
    std::set<std::string> seen;
    for (std::size_t r = 0; r < settings_.rules.size(); ++r) {
      const AlertRule& rule = settings_.rules[r];
      for (const Sample& sample : samples) {
        if (!matches(rule, sample)) continue;
        std::string key = seriesKey(rule.name, sample.labels);
        seen.insert(key);
        Series& series = series_[key];
        series.alert.rule = r;
        series.alert.labels = sample.labels;
        double value = sample.value;
        bool known = !std::isnan(value);
        if (rule.rate.count() > 0) {
          auto& history = series.history;
          if (!history.empty() && value < history.back().second) history.clear();  // the counter was reset
          history.emplace_back(now, value);
          while (history.size() > 2 && history[1].first <= now - rule.rate.count()) history.pop_front();
          known = history.size() >= 2 && history.back().first > history.front().first;
          if (known)
            value = (history.back().second - history.front().second) /
                    (static_cast<double>(history.back().first - history.front().first) / 1000.0);
        }
        step(series, known && holds(rule.comparison, value, rule.threshold), value, now);
      }
    }
    // A series that is gone (a plugin stopped) resolves its alert.
    for (auto it = series_.begin(); it != series_.end();) {
      if (seen.count(it->first) == 0) {
        step(it->second, false, it->second.alert.value, now);
        it = series_.erase(it);
      } else {
        ++it;
      }
    }
    evaluatedAtMs_ = now;
    countFiring();
    payloads.swap(outbox_);
  }
  send(payloads);
}

void AlertEngine::step(Series& series, bool condition, double value, std::int64_t now) {
  Alert& alert = series.alert;
  const AlertRule& rule = settings_.rules[alert.rule];
  if (condition) {
    alert.value = value;
    if (alert.state == AlertState::kInactive) {
      alert.state = AlertState::kPending;
      alert.activeSinceMs = now;
    }
    if (alert.state == AlertState::kPending && now - alert.activeSinceMs >= rule.forDuration.count()) {
      alert.state = AlertState::kFiring;
      alert.firingSinceMs = now;
      transition(alert);
    }
    return;
  }
  if (alert.state == AlertState::kFiring) {
    Alert resolved = alert;
    resolved.state = AlertState::kResolved;
    resolved.resolvedAtMs = now;
    transition(resolved);
    if (settings_.keepResolved > 0) {
      resolved_.push_front(resolved);
      if (resolved_.size() > settings_.keepResolved) resolved_.pop_back();
    }
  }
  alert.state = AlertState::kInactive;
  alert.activeSinceMs = alert.firingSinceMs = 0;
}

std::string AlertEngine::alertJson(const Alert& alert) const {
  const AlertRule& rule = settings_.rules[alert.rule];
  boost::json::object labels;
  for (const auto& [name, value] : alert.labels) labels[name] = value;
  boost::json::object out{{"rule", rule.name},
                          {"state", stateName(alert.state)},
                          {"severity", severityName(rule.severity)},
                          {"summary", rule.summary},
                          {"metric", rule.metric},
                          {"labels", std::move(labels)},
                          {"comparison", comparisonText(rule.comparison)},
                          {"threshold", rule.threshold},
                          {"for_ms", rule.forDuration.count()},
                          {"active_since_ms", alert.activeSinceMs}};
  // JSON has no NaN or infinity.
  if (std::isfinite(alert.value)) out["value"] = alert.value;
  if (rule.rate.count() > 0) out["rate_window_ms"] = rule.rate.count();
  if (alert.firingSinceMs != 0) out["firing_since_ms"] = alert.firingSinceMs;
  if (alert.resolvedAtMs != 0) out["resolved_at_ms"] = alert.resolvedAtMs;
  return boost::json::serialize(out);
}

void AlertEngine::transition(const Alert& alert) {
  const AlertRule& rule = settings_.rules[alert.rule];
  bool firing = alert.state == AlertState::kFiring;
  std::string payload = std::string("{\"event\":\"") + (firing ? "alert.firing" : "alert.resolved") +
                        "\",\"alert\":" + alertJson(alert) + "}";
  std::string line = "alert " + rule.name + " " + (firing ? "firing" : "resolved") + ": " + rule.summary;
  if (firing && rule.severity != AlertSeverity::kInfo)
    context_.log().warn(line);
  else
    context_.log().info(line);
  context_.metrics()
      .counter("hive_alert_transitions_total", "Alerts that started firing or resolved, by rule",
               {{"rule", rule.name}, {"state", firing ? "firing" : "resolved"}})
      .increment();
  outbox_.push_back(std::move(payload));
}

void AlertEngine::send(const std::vector<std::string>& payloads) {
  if (payloads.empty()) return;
  auto bus = context_.services().get<bus::Bus>();
  for (const auto& payload : payloads) {
    Status published = bus.ok() ? (*bus)->publish("alerts", payload).status() : bus.status();
    if (!published.ok()) {
      context_.metrics()
          .counter("hive_alert_events_unpublished_total", "Alert transitions the bus did not take")
          .increment();
      if (!complainedUnpublished_)
        context_.log().warn("alert events not published on the bus: " + published.message());
      complainedUnpublished_ = true;
    } else {
      complainedUnpublished_ = false;
    }
    for (auto& webhook : webhooks_) webhook->enqueue(payload);
  }
}

void AlertEngine::countFiring() {
  std::map<std::size_t, int> firing;
  for (const auto& [key, series] : series_)
    if (series.alert.state == AlertState::kFiring) ++firing[series.alert.rule];
  for (std::size_t r = 0; r < settings_.rules.size(); ++r)
    context_.metrics()
        .gauge("hive_alerts_firing", "Alerts firing now, by rule",
               {{"rule", settings_.rules[r].name},
                {"severity", std::string(severityName(settings_.rules[r].severity))}})
        .set(firing[r]);
}

AlertsSnapshot AlertEngine::snapshot() const {
  std::lock_guard lock(mutex_);
  AlertsSnapshot out;
  for (const auto& [key, series] : series_)
    if (series.alert.state == AlertState::kPending || series.alert.state == AlertState::kFiring)
      out.active.push_back(series.alert);
  out.resolved.assign(resolved_.begin(), resolved_.end());
  out.evaluatedAtMs = evaluatedAtMs_;
  return out;
}

}  // namespace hive::monitoring_engine
