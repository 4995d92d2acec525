// How security_manager names a caller that authenticated as an agent (an
// agent key, or a token of role `agent`), and how the orchestrator reads the
// agent name it may register: "agent:<name>" for an agent of the default
// tenant, "agent+<tenant>:<name>" for a named tenant's. The tenant is in the
// name so that two tenants' agents of one name are two principals (a tenant
// holds no ':'; a name may hold anything).
#pragma once

#include <string>
#include <string_view>

namespace hive::plugin_common {

inline std::string agentPrincipal(std::string_view name, std::string_view tenant) {
  if (tenant.empty()) return "agent:" + std::string(name);
  return "agent+" + std::string(tenant) + ":" + std::string(name);
}

struct AgentIdentity {
  std::string name;    // empty: not an agent's principal
  std::string tenant;  // "" the default tenant
};

inline AgentIdentity agentOfPrincipal(std::string_view principal) {
  if (principal.substr(0, 6) == "agent:") return {std::string(principal.substr(6)), ""};
  if (principal.substr(0, 6) != "agent+") return {};
  std::size_t colon = principal.find(':', 6);
  if (colon == std::string_view::npos || colon == 6) return {};
  return {std::string(principal.substr(colon + 1)), std::string(principal.substr(6, colon - 6))};
}

}  // namespace hive::plugin_common
