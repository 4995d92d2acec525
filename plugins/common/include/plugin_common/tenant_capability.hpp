// How a named tenant's tasks are kept apart in dispatch: a task of tenant T
// waits in a queue whose capability set also holds "tenant:T" (task_manager),
// and an agent of T claims with "tenant:T" added to its capabilities
// (orchestrator). No client's capability can hold a ':'. One definition for
// both sides of that contract.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace hive::plugin_common {

constexpr std::string_view kTenantCapabilityPrefix = "tenant:";

inline std::string tenantCapability(std::string_view tenant) {
  return std::string(kTenantCapabilityPrefix) + std::string(tenant);
}

inline bool isTenantCapability(std::string_view capability) {
  return capability.rfind(kTenantCapabilityPrefix, 0) == 0;
}

// The tenant a "tenant:T" capability names (resource_manager counts a
// queue's waiting tasks by it); "" for any other capability.
inline std::string_view tenantOfCapability(std::string_view capability) {
  return isTenantCapability(capability) ? capability.substr(kTenantCapabilityPrefix.size())
                                        : std::string_view();
}

// The tenant of a queue's capability set: the one its "tenant:T" names; ""
// (the default tenant) when it holds none.
inline std::string tenantOfSet(const std::vector<std::string>& capabilities) {
  for (const auto& capability : capabilities)
    if (isTenantCapability(capability)) return std::string(tenantOfCapability(capability));
  return "";
}

// `capabilities` (sorted) with the tenant's added, still sorted; as they are
// for the default tenant ("").
inline std::vector<std::string> withTenant(std::vector<std::string> capabilities, std::string_view tenant) {
  if (tenant.empty()) return capabilities;
  capabilities.push_back(tenantCapability(tenant));
  std::sort(capabilities.begin(), capabilities.end());
  return capabilities;
}

}  // namespace hive::plugin_common
