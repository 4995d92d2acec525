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

inline std::string tenantCapability(std::string_view tenant) { return "tenant:" + std::string(tenant); }

inline bool isTenantCapability(std::string_view capability) { return capability.rfind("tenant:", 0) == 0; }

// `capabilities` (sorted) with the tenant's added, still sorted; as they are
// for the default tenant ("").
inline std::vector<std::string> withTenant(std::vector<std::string> capabilities, std::string_view tenant) {
  if (tenant.empty()) return capabilities;
  capabilities.push_back(tenantCapability(tenant));
  std::sort(capabilities.begin(), capabilities.end());
  return capabilities;
}

}  // namespace hive::plugin_common
