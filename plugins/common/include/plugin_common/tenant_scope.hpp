// Whose objects a caller sees (hive.tenancy/1): its provider's answer, or every
// tenant's when no provider runs (then there is one tenant, ""). Header-only,
// shared by the in-tree plugins that keep objects for callers.
#pragma once

#include <string_view>

#include "hive/services.hpp"
#include "hive/services/tenancy.hpp"

namespace hive::plugin_common {

inline tenancy::Scope scopeOf(ServiceRegistry& services, std::string_view principal) {
  auto tenancy = services.get<tenancy::Tenancy>();
  return tenancy.ok() ? (*tenancy)->scopeOf(principal) : tenancy::Scope::everything();
}

}  // namespace hive::plugin_common
