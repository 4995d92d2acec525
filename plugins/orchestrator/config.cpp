#include "config.hpp"

#include <unistd.h>

#include <algorithm>

namespace hive::orchestrator {
namespace {

// An integer setting within [minimum, maximum]; out of it: reported, fallback kept.
template <typename T>
T readCount(ConfigReader& reader, const char* key, T fallback, std::int64_t minimum, std::int64_t maximum) {
  auto value = reader.get<std::int64_t>(key, static_cast<std::int64_t>(fallback));
  if (value < minimum || value > maximum) {
    reader.reject(key, "must be " + std::to_string(minimum) + "-" + std::to_string(maximum));
    return fallback;
  }
  return static_cast<T>(value);
}

std::chrono::milliseconds readDuration(ConfigReader& reader, const char* key,
                                       std::chrono::milliseconds fallback, std::chrono::milliseconds minimum,
                                       const char* rule,
                                       std::chrono::milliseconds maximum = std::chrono::milliseconds::max()) {
  auto value = reader.get<std::chrono::milliseconds>(key, fallback);
  if (value < minimum || value > maximum) {
    reader.reject(key, rule);
    return fallback;
  }
  return value;
}

bool isNodeName(const std::string& node) {
  return !node.empty() && node.size() <= 64 && std::all_of(node.begin(), node.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

std::string hostName() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host[0] != '\0' ? std::string(host) : "node";
}

}  // namespace

Options readOptions(const ConfigNode& section, Diagnostics& diagnostics) {
  using std::chrono::milliseconds;
  ConfigReader reader(section, diagnostics);
  Options o;
  o.heartbeatInterval = readDuration(reader, "heartbeat_interval", o.heartbeatInterval, milliseconds(100),
                                     "must be at least 100ms");
  o.missedHeartbeats = readCount(reader, "missed_heartbeats", o.missedHeartbeats, 1, 100);
  o.failureThreshold = readCount(reader, "failure_threshold", o.failureThreshold, 1, 1000);
  o.openFor = readDuration(reader, "open_for", o.openFor, milliseconds(1), "must be at least 1ms");
  o.sweepPeriod =
      readDuration(reader, "sweep_period", o.sweepPeriod, milliseconds(10), "must be at least 10ms");
  o.latencyRanking = reader.get<bool>("latency_ranking", true);
  o.usagePeriod =
      readDuration(reader, "usage_period", o.usagePeriod, milliseconds(100), "must be at least 100ms");
  if (auto maxAgents = reader.get<std::int64_t>("max_agents", 10000); maxAgents < 1)
    reader.reject("max_agents", "must be at least 1");
  else
    o.maxAgents = static_cast<std::size_t>(maxAgents);
  o.maxRegisteredAgents = readCount(reader, "max_registered_agents", o.maxRegisteredAgents, 1, 10'000'000);
  o.agentRetention =
      readDuration(reader, "agent_retention", o.agentRetention, milliseconds(100), "must be at least 100ms");
  o.claimWindow = readDuration(reader, "claim_window", o.claimWindow, milliseconds(10),
                               "must be between 10ms and 1h", std::chrono::hours(1));
  o.maxUnacknowledged = readCount(reader, "max_unacknowledged", o.maxUnacknowledged, 1, 1024);
  o.maxBacklog = readCount(reader, "max_backlog", o.maxBacklog, 1, 1'000'000);
  o.handoverWait = readDuration(reader, "handover_wait", o.handoverWait, milliseconds(0),
                                "must be between 0s and 1h", std::chrono::hours(1));
  o.node = reader.get<std::string>("node", hostName());
  if (!isNodeName(o.node)) reader.reject("node", "must be 1-64 characters of letters, digits, '-', '_', '.'");
  const ConfigNode& tenants = reader.child("process_agent_tenants");
  if (tenants.isMap()) {
    for (const auto& entry : tenants.entries()) {
      auto tenant = entry.value.as<std::string>();
      // A tenant name as hive.tenancy/1 gives them: 1-64 of [A-Za-z0-9._-].
      if (!tenant.ok() || !isNodeName(*tenant))
        diagnostics.error(entry.value.location(),
                          "'process_agent_tenants': the tenant of '" + entry.key +
                              "' must be 1-64 characters of letters, digits, '-', '_', '.'");
      else
        o.processAgentTenants[entry.key] = *tenant;
    }
  } else if (!tenants.isNull()) {
    reader.reject("process_agent_tenants", "expected a map of process agent names to tenants");
  }
  reader.finish();
  return o;
}

}  // namespace hive::orchestrator
