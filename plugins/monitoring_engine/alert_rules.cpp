#include "alert_rules.hpp"

#include <algorithm>
#include <cmath>
#include <set>

namespace hive::monitoring_engine {
namespace {

bool isIdentifier(std::string_view name, bool allowColon) {
  if (name.empty() || name.size() > 200) return false;
  auto start = [&](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || (allowColon && c == ':');
  };
  if (!start(name.front())) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return start(c) || std::isdigit(static_cast<unsigned char>(c)); });
}

bool isWebhookName(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

struct ComparisonName {
  std::string_view text;
  Comparison comparison;
};
constexpr ComparisonName kComparisons[] = {{">", Comparison::kGreater}, {">=", Comparison::kGreaterOrEqual},
                                           {"<", Comparison::kLess},    {"<=", Comparison::kLessOrEqual},
                                           {"==", Comparison::kEqual},  {"!=", Comparison::kNotEqual}};

AlertRule readRule(const ConfigNode& node, Diagnostics& diagnostics) {
  ConfigReader reader(node, diagnostics);
  AlertRule rule;
  rule.name = reader.require<std::string>("name");
  if (!rule.name.empty() && !isIdentifier(rule.name, false))
    reader.reject("name", "must match [a-zA-Z_][a-zA-Z0-9_]* (at most 200 characters)");
  rule.metric = reader.require<std::string>("metric");
  if (!rule.metric.empty() && !isIdentifier(rule.metric, true))
    reader.reject("metric", "must be a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
  const ConfigNode& labels = reader.child("labels");
  if (!labels.isNull()) {
    if (!labels.isMap()) {
      reader.reject("labels", "expected a map of label name to value");
    } else {
      for (const auto& entry : labels.entries()) {
        auto value = entry.value.as<std::string>();
        if (!isIdentifier(entry.key, false))
          diagnostics.error(entry.keyLocation, "'labels': '" + entry.key + "' is not a label name");
        else if (!value.ok())
          diagnostics.error(entry.value.location(), "'labels': " + value.status().message());
        else
          rule.labels[entry.key] = *value;
      }
    }
  }
  rule.rate = reader.get<std::chrono::milliseconds>("rate", rule.rate);
  if (rule.rate.count() != 0 && (rule.rate < std::chrono::seconds(1) || rule.rate > std::chrono::hours(24)))
    reader.reject("rate", "must be between 1s and 24h");
  std::string comparison = reader.get<std::string>("comparison", ">");
  auto found = std::find_if(std::begin(kComparisons), std::end(kComparisons),
                            [&](const ComparisonName& c) { return c.text == comparison; });
  if (found == std::end(kComparisons))
    reader.reject("comparison", "must be one of >, >=, <, <=, ==, !=");
  else
    rule.comparison = found->comparison;
  rule.threshold = reader.require<double>("threshold");
  if (!std::isfinite(rule.threshold)) reader.reject("threshold", "must be a finite number");
  rule.forDuration = reader.get<std::chrono::milliseconds>("for", rule.forDuration);
  if (rule.forDuration > std::chrono::hours(24 * 7)) reader.reject("for", "must be at most 168h");
  std::string severity = reader.get<std::string>("severity", "warning");
  if (severity == "info")
    rule.severity = AlertSeverity::kInfo;
  else if (severity == "warning")
    rule.severity = AlertSeverity::kWarning;
  else if (severity == "critical")
    rule.severity = AlertSeverity::kCritical;
  else
    reader.reject("severity", "must be info, warning or critical");
  rule.summary = reader.get<std::string>("summary", "");
  if (rule.summary.size() > 1024) reader.reject("summary", "must be at most 1024 bytes");
  reader.finish();
  return rule;
}

}  // namespace

void readWebhookUrl(ConfigReader& reader, const std::string& key, Webhook& webhook) {
  if (!webhook.url.empty()) {
    if (auto endpoint = plugin_common::parseHttpUrl(webhook.url); endpoint.ok())
      webhook.endpoint = std::move(*endpoint);
    else
      reader.reject(key, endpoint.status().message());
  }
  webhook.caFile = plugin_common::readCaFile(reader);
}

namespace {

Webhook readWebhook(const ConfigNode& node, Diagnostics& diagnostics) {
  ConfigReader reader(node, diagnostics);
  Webhook webhook;
  webhook.name = reader.require<std::string>("name");
  if (!webhook.name.empty() && !isWebhookName(webhook.name))
    reader.reject("name", "must match [a-z0-9_-]{1,64} (it is a metric label)");
  webhook.url = reader.require<std::string>("url");
  readWebhookUrl(reader, "url", webhook);
  webhook.timeout = reader.getInRange<std::chrono::milliseconds>(
      "timeout", webhook.timeout, std::chrono::milliseconds(100), std::chrono::minutes(1));
  webhook.retries = reader.getInRange("retries", webhook.retries, 0, 10);
  webhook.queue = static_cast<std::size_t>(
      reader.getInRange<std::int64_t>("queue", static_cast<std::int64_t>(webhook.queue), 1, 100000));
  reader.finish();
  return webhook;
}

AlertRule rule(std::string name, std::string metric, std::map<std::string, std::string> labels,
               std::chrono::milliseconds rate, Comparison comparison, double threshold,
               std::chrono::milliseconds forDuration, AlertSeverity severity, std::string summary) {
  return AlertRule{std::move(name), std::move(metric), std::move(labels), rate, comparison, threshold,
                   forDuration,     severity,          std::move(summary)};
}

}  // namespace

std::string_view comparisonText(Comparison comparison) {
  for (const auto& c : kComparisons)
    if (c.comparison == comparison) return c.text;
  return "?";
}

std::string_view severityName(AlertSeverity severity) {
  switch (severity) {
    case AlertSeverity::kInfo: return "info";
    case AlertSeverity::kWarning: return "warning";
    case AlertSeverity::kCritical: return "critical";
  }
  return "warning";
}

bool holds(Comparison comparison, double value, double threshold) {
  switch (comparison) {
    case Comparison::kGreater: return value > threshold;
    case Comparison::kGreaterOrEqual: return value >= threshold;
    case Comparison::kLess: return value < threshold;
    case Comparison::kLessOrEqual: return value <= threshold;
    case Comparison::kEqual: return value == threshold;
    case Comparison::kNotEqual: return value != threshold;
  }
  return false;
}

std::vector<AlertRule> defaultAlertRules() {
  using std::chrono::milliseconds;
  using std::chrono::minutes;
  using std::chrono::seconds;
  return {
      rule("PluginUnhealthy", "hive_plugin_healthy", {}, milliseconds(0), Comparison::kEqual, 0, minutes(1),
           AlertSeverity::kCritical, "A plugin has reported itself unhealthy for 1 minute (/readyz is 503)"),
      rule("ThreadStalled", "hive_watchdog_stalled_threads", {}, milliseconds(0), Comparison::kGreater, 0,
           seconds(0), AlertSeverity::kCritical, "A watched plugin thread makes no progress (/livez is 503)"),
      rule("StoreCommitsFailing", "hive_store_sqlite_failed_commits_total", {}, minutes(5),
           Comparison::kGreater, 0, minutes(1), AlertSeverity::kCritical, "SQLite group commits are failing"),
      rule("StoreConnectsFailing", "hive_store_postgres_connect_failures_total", {}, minutes(5),
           Comparison::kGreater, 0, minutes(2), AlertSeverity::kCritical,
           "Connections to PostgreSQL keep failing"),
      rule("BusRejecting", "hive_bus_rejected_total", {}, minutes(5), Comparison::kGreater, 0, minutes(1),
           AlertSeverity::kWarning, "The bus refuses publishes and appends: its buffer is full"),
      rule("ProcessAgentJobsFailing", "hive_executor_jobs_total", {{"outcome", "crashed"}}, minutes(5),
           Comparison::kGreater, 0.1, minutes(5), AlertSeverity::kWarning,
           "Jobs of a process agent keep crashing"),
      rule("TasksPilingUp", "hive_tasks_queued", {}, milliseconds(0), Comparison::kGreater, 1000, minutes(10),
           AlertSeverity::kWarning, "More than 1000 tasks have waited for 10 minutes: no agent takes them"),
      rule("TasksWaitingLong", "hive_tasks_queue_age_seconds", {}, milliseconds(0), Comparison::kGreater, 300,
           minutes(5), AlertSeverity::kWarning,
           "A claimable task has waited more than 5 minutes for an agent, for 5 minutes"),
      rule("TasksDying", "hive_tasks_finished_total", {{"status", "dead"}}, minutes(5), Comparison::kGreater,
           0, minutes(1), AlertSeverity::kWarning,
           "Tasks are given up (dead): attempts exhausted or leases expired"),
      rule("AgentsWentOffline", "hive_agents_went_offline_total", {}, minutes(10), Comparison::kGreater, 0,
           milliseconds(0), AlertSeverity::kWarning,
           "Remote agents went offline (missed heartbeats) in the last 10 minutes"),
      rule("AgentBreakerOpen", "hive_agents_circuit", {{"state", "open"}}, milliseconds(0),
           Comparison::kGreater, 0, minutes(1), AlertSeverity::kWarning,
           "An agent's circuit breaker has been open for 1 minute: its tasks keep failing"),
      rule("HttpServerErrors", "hive_http_requests_total", {{"status", "500"}}, minutes(5),
           Comparison::kGreater, 0.5, minutes(5), AlertSeverity::kWarning,
           "A route answers 500 more than once every 2 seconds"),
  };
}

AlertSettings readAlertSettings(const ConfigNode& section, Diagnostics& diagnostics) {
  ConfigReader reader(section, diagnostics);
  AlertSettings settings;
  settings.period = reader.getInRange<std::chrono::milliseconds>(
      "period", settings.period, std::chrono::milliseconds(100), std::chrono::hours(1));
  settings.defaultRules = reader.get<bool>("default_rules", settings.defaultRules);
  settings.keepResolved = static_cast<std::size_t>(reader.getInRange<std::int64_t>(
      "keep_resolved", static_cast<std::int64_t>(settings.keepResolved), 0, 10000));
  if (settings.defaultRules) settings.rules = defaultAlertRules();
  const ConfigNode& rules = reader.child("rules");
  if (!rules.isNull() && !rules.isSequence()) reader.reject("rules", "expected a list of rules");
  std::set<std::string> names;
  for (const auto& r : settings.rules) names.insert(r.name);
  if (rules.isSequence()) {
    for (const ConfigNode& item : rules.items()) {
      AlertRule rule = readRule(item, diagnostics);
      if (!rule.name.empty() && !names.insert(rule.name).second) {
        diagnostics.error(item.location(),
                          "'rules': a rule named '" + rule.name +
                              "' exists already (default_rules: false to replace the shipped ones)");
        continue;
      }
      settings.rules.push_back(std::move(rule));
    }
  }
  const ConfigNode& webhooks = reader.child("webhooks");
  if (!webhooks.isNull() && !webhooks.isSequence()) reader.reject("webhooks", "expected a list of webhooks");
  std::set<std::string> hookNames;
  if (webhooks.isSequence()) {
    for (const ConfigNode& item : webhooks.items()) {
      Webhook webhook = readWebhook(item, diagnostics);
      if (!webhook.name.empty() && !hookNames.insert(webhook.name).second) {
        diagnostics.error(item.location(), "'webhooks': two webhooks named '" + webhook.name + "'");
        continue;
      }
      settings.webhooks.push_back(std::move(webhook));
    }
  }
  reader.finish();
  return settings;
}

}  // namespace hive::monitoring_engine
