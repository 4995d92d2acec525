#include "concurrency.hpp"

#include <algorithm>
#include <limits>

#include "plugin_common/tenant_capability.hpp"
#include "task_model.hpp"

namespace hive::task_manager {

std::string busyCounter(const std::string& queue) {
  std::string rest = queue.rfind("tasks.", 0) == 0 ? queue.substr(6) : queue;
  std::string name = kBusyCounters + rest;
  return name.size() <= 63 ? name : hashedName(kBusyCounters, queue);  // too long for a counter name
}

Headroom::Headroom(const ConcurrencyLimits& limits,
                   const std::map<std::string, std::vector<std::string>>& queues,
                   const std::optional<std::map<std::string, std::int64_t>>& counters)
    : limits_(limits), known_(counters.has_value()) {
  if (!counters) return;
  for (const auto& [queue, required] : queues) {
    auto found = counters->find(busyCounter(queue));
    if (found == counters->end() || found->second <= 0) continue;
    for (const auto& [key, limit] : limitsOf(required)) busy_[key] += found->second;
  }
}

std::map<std::string, std::int64_t> Headroom::limitsOf(const std::vector<std::string>& required) const {
  std::map<std::string, std::int64_t> out;
  for (const auto& capability : required) {
    if (plugin_common::isTenantCapability(capability)) continue;
    auto limit = limits_.capabilities.find(capability);
    if (limit != limits_.capabilities.end()) out["c:" + capability] = limit->second;
  }
  std::string tenant = plugin_common::tenantOfSet(required);
  auto own = limits_.tenants.find(tenant);
  std::int64_t tenantLimit = own != limits_.tenants.end() ? own->second : limits_.perTenant;
  if (tenantLimit > 0) out["t:" + tenant] = tenantLimit;
  return out;
}

std::size_t Headroom::room(const std::vector<std::string>& required) const {
  std::int64_t room = std::numeric_limits<std::int64_t>::max();
  auto limits = limitsOf(required);
  if (!known_ && !limits.empty()) return 0;
  for (const auto& [key, limit] : limits) {
    auto held = busy_.find(key);
    room = std::min(room, limit - (held == busy_.end() ? 0 : held->second));
  }
  return room <= 0 ? 0 : static_cast<std::size_t>(std::min<std::int64_t>(room, 1 << 20));
}

void Headroom::took(const std::vector<std::string>& required, std::size_t count) {
  for (const auto& [key, limit] : limitsOf(required)) busy_[key] += static_cast<std::int64_t>(count);
}

}  // namespace hive::task_manager
