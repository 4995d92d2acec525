#include "load_signals.hpp"

#include <algorithm>

#include "hive/services/health.hpp"
#include "hive/services/tasks.hpp"
#include "plugin_common/metric_samples.hpp"
#include "plugin_common/tenant_capability.hpp"

namespace hive::resource_manager {
namespace {

void addUnreadable(LoadSignals& signals, const std::string& why) {
  signals.unreadable += (signals.unreadable.empty() ? "" : "; ") + why;
}

void readWaiting(PluginContext& context, const AdmissionLimits& limits, LoadSignals& signals) {
  auto tasks = context.services().get<tasks::TaskService>();
  if (!tasks.ok())
    return addUnreadable(signals, "max_waiting: no hive.tasks/1 provider (task_manager) is running");
  auto depth = (*tasks)->depth();
  if (!depth.ok()) return addUnreadable(signals, "max_waiting: " + depth.status().message());
  std::uint64_t waiting = 0;
  for (const auto& queue : *depth) {
    std::uint64_t inQueue = 0;
    for (const auto& [priority, count] : queue.byPriority) inQueue += count;
    waiting += inQueue;
    if (!limits.waitingByTenantOrCapability() || inQueue == 0) continue;
    // A queue's capability set, comma-separated; a tenant's tasks carry
    // "tenant:<name>" (plugin_common/tenant_capability.hpp).
    std::string tenant;
    std::string_view rest = queue.capabilities;
    while (!rest.empty()) {
      std::size_t comma = rest.find(',');
      std::string_view capability = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (plugin_common::isTenantCapability(capability))
        tenant = std::string(plugin_common::tenantOfCapability(capability));
      else if (limits.maxWaitingByCapability.count(std::string(capability)))
        signals.waitingByCapability[std::string(capability)] += inQueue;
    }
    signals.waitingByTenant[tenant] += inQueue;
  }
  signals.waiting = waiting;
}

void readQueueAge(PluginContext& context, LoadSignals& signals) {
  std::optional<double> oldest;
  for (const auto& sample : plugin_common::parseSamples(context.metrics().exposition()))
    if (sample.name == "hive_tasks_queue_age_seconds") oldest = std::max(oldest.value_or(0.0), sample.value);
  if (!oldest) {
    // monitoring_engine (the provider of hive.readiness/1) makes the series
    // for a capability set once its tasks were seen: none yet, none waits.
    if (!context.services().get<health::Readiness>().ok())
      return addUnreadable(
          signals, "max_queue_age: no hive_tasks_queue_age_seconds series (monitoring_engine keeps them)");
    oldest = 0.0;
  }
  signals.queueAgeSeconds = oldest;
}

}  // namespace

LoadSignals readLoadSignals(PluginContext& context, const AdmissionLimits& limits) {
  LoadSignals signals;
  signals.host = readHostUsage();
  if (limits.maxWaiting != 0 || limits.waitingByTenantOrCapability()) readWaiting(context, limits, signals);
  if (limits.maxQueueAge.count() != 0) readQueueAge(context, signals);
  return signals;
}

}  // namespace hive::resource_manager
