#include "config.hpp"

#include <cctype>

namespace hive::resource_manager {

namespace {

constexpr std::int64_t kMaxBytes = std::int64_t{1} << 50;  // 1 PiB: beyond any host
constexpr std::int64_t kMaxCpuSeconds = 365LL * 24 * 3600;
constexpr std::int64_t kMaxOpenFiles = std::int64_t{1} << 30;

Quota readQuota(const ConfigNode& node, const Quota& base, Diagnostics& diagnostics) {
  ConfigReader reader(node, diagnostics);
  Quota quota = base;
  quota.memoryBytes = static_cast<std::uint64_t>(reader.getInRange<std::int64_t>(
      "memory_bytes", static_cast<std::int64_t>(base.memoryBytes), 0, kMaxBytes));
  quota.cpuSeconds = static_cast<std::uint64_t>(reader.getInRange<std::int64_t>(
      "cpu_seconds", static_cast<std::int64_t>(base.cpuSeconds), 0, kMaxCpuSeconds));
  quota.openFiles = static_cast<std::uint64_t>(reader.getInRange<std::int64_t>(
      "open_files", static_cast<std::int64_t>(base.openFiles), 0, kMaxOpenFiles));
  quota.wallTime = reader.getInRange<std::chrono::milliseconds>(
      "wall_time", base.wallTime, std::chrono::milliseconds(0), std::chrono::hours(168));
  reader.finish();
  return quota;
}

// task_execution_engine's rule for agent names.
bool validAgentName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return true;
}

AdmissionLimits readAdmission(const ConfigNode& node, Diagnostics& diagnostics) {
  ConfigReader reader(node, diagnostics);
  AdmissionLimits limits;
  limits.maxWaiting =
      static_cast<std::uint64_t>(reader.getInRange<std::int64_t>("max_waiting", 0, 0, std::int64_t{1} << 40));
  limits.maxQueueAge = reader.getInRange<std::chrono::milliseconds>(
      "max_queue_age", limits.maxQueueAge, std::chrono::milliseconds(0), std::chrono::hours(24 * 30));
  limits.minMemoryAvailableBytes = static_cast<std::uint64_t>(
      reader.getInRange<std::int64_t>("min_memory_available_bytes", 0, 0, kMaxBytes));
  limits.maxLoadPerCpu = reader.getInRange<double>("max_load_per_cpu", 0.0, 0.0, 1000.0);
  limits.interval = reader.getInRange<std::chrono::milliseconds>(
      "interval", limits.interval, std::chrono::milliseconds(100), std::chrono::minutes(1));
  limits.retryAfter =
      std::chrono::seconds(reader.getInRange<std::int64_t>("retry_after_seconds", 5, 1, 3600));
  limits.maxWaitingPerTenant = static_cast<std::uint64_t>(
      reader.getInRange<std::int64_t>("max_waiting_per_tenant", 0, 0, std::int64_t{1} << 40));
  const ConfigNode& byCapability = reader.child("max_waiting_by_capability");
  if (byCapability.isMap()) {
    ConfigReader each(byCapability, diagnostics);
    for (const auto& entry : byCapability.entries()) {
      const bool name =
          !entry.key.empty() && entry.key.size() <= 32 &&
          entry.key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") == std::string::npos;
      if (!name) {
        diagnostics.error(entry.keyLocation, "'max_waiting_by_capability': '" + entry.key +
                                                 "' is not a capability (1-32 of a-z, 0-9, '_', '-')");
        continue;
      }
      limits.maxWaitingByCapability[entry.key] =
          static_cast<std::uint64_t>(each.getInRange<std::int64_t>(entry.key, 1, 1, std::int64_t{1} << 40));
    }
    each.finish();
  } else if (!byCapability.isNull()) {
    reader.reject("max_waiting_by_capability", "expected a map of capability to a number of waiting tasks");
  }
  reader.finish();
  return limits;
}

}  // namespace

const Quota& quotaFor(const Settings& settings, const std::string& agent) {
  auto found = settings.agents.find(agent);
  return found == settings.agents.end() ? settings.defaults : found->second;
}

Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics) {
  ConfigReader reader(section, diagnostics);
  Settings settings;
  const ConfigNode& admission = reader.child("admission");
  if (!admission.isNull()) settings.admission = readAdmission(admission, diagnostics);
  const ConfigNode& defaults = reader.child("defaults");
  if (!defaults.isNull()) settings.defaults = readQuota(defaults, settings.defaults, diagnostics);
  const ConfigNode& agents = reader.child("agents");
  if (agents.isMap()) {
    for (const auto& entry : agents.entries()) {
      if (!validAgentName(entry.key)) {
        diagnostics.error(entry.keyLocation,
                          "'agents': '" + entry.key + "' is not a process agent name ([A-Za-z0-9_-]{1,64})");
        continue;
      }
      settings.agents[entry.key] = readQuota(entry.value, settings.defaults, diagnostics);
    }
  } else if (!agents.isNull()) {
    reader.reject("agents", "expected a map of process agent names to quotas");
  }
  settings.keepFinished = static_cast<std::size_t>(reader.getInRange<std::int64_t>(
      "keep_finished", static_cast<std::int64_t>(settings.keepFinished), 0, 100000));
  reader.finish();
  return settings;
}

}  // namespace hive::resource_manager
