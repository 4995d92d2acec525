// Alert rules as an operator writes them in the monitoring_engine's
// `alerts:` section, and the webhooks transitions are sent to.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "hive/config.hpp"
#include "plugin_common/http_url.hpp"

namespace hive::monitoring_engine {

enum class Comparison { kGreater, kGreaterOrEqual, kLess, kLessOrEqual, kEqual, kNotEqual };
enum class AlertSeverity { kInfo, kWarning, kCritical };

std::string_view comparisonText(Comparison comparison);
std::string_view severityName(AlertSeverity severity);
bool holds(Comparison comparison, double value, double threshold);

// One rule: every series of `metric` whose labels include `labels` is one
// alert, pending while the condition holds, firing once it held for `forDuration`.
struct AlertRule {
  std::string name;                           // [a-zA-Z_][a-zA-Z0-9_]*, unique
  std::string metric;                         // a sample name: foo_total, bar_seconds_count, baz
  std::map<std::string, std::string> labels;  // must all be equal on the series
  // Non-zero: the condition is on the per-second increase over this window (a
  // counter's rate), not on the value.
  std::chrono::milliseconds rate{0};
  Comparison comparison = Comparison::kGreater;
  double threshold = 0;
  std::chrono::milliseconds forDuration{0};
  AlertSeverity severity = AlertSeverity::kWarning;
  std::string summary;
};

struct Webhook {
  std::string name;                         // a metric label: [a-z0-9_-]
  std::string url;                          // http(s)://host[:port]/path
  plugin_common::HttpUrl endpoint;          // the url, split
  std::string caFile;                       // https: the CA certificates (PEM); empty: the system's store
  std::chrono::milliseconds timeout{5000};  // per attempt: connect + TLS + send + status line
  int retries = 3;                          // after the first attempt
  std::size_t queue = 256;                  // transitions waiting for this webhook; more are dropped
};

// Reads `key` (an http:// or https:// URL) into webhook.url and .endpoint,
// and `ca_file` into webhook.caFile; a bad one is an error at its place.
void readWebhookUrl(ConfigReader& reader, const std::string& key, Webhook& webhook);

struct AlertSettings {
  std::chrono::milliseconds period{5000};  // evaluation period
  bool defaultRules = true;                // the shipped rules (docs/observability.md) before `rules`
  std::vector<AlertRule> rules;
  std::vector<Webhook> webhooks;
  std::size_t keepResolved = 100;  // resolved alerts listed at GET /api/v2/observability/alerts
};

// The shipped rules, on series the in-tree plugins record today.
std::vector<AlertRule> defaultAlertRules();

// Reads the `alerts:` map; problems go to `diagnostics` with their locations.
AlertSettings readAlertSettings(const ConfigNode& section, Diagnostics& diagnostics);

}  // namespace hive::monitoring_engine
