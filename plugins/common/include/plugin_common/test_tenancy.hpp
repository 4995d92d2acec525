// For tests of plugins that keep objects per tenant: hive.tenancy/1 as
// security_manager answers it, without keys. Principal "acme" → tenant acme,
// "admin" → every tenant, "" → the default tenant, a plugin acting for a
// tenant (hive::tenancy::actingFor) → that tenant.
#pragma once

#include <string>
#include <string_view>

#include "hive/services/tenancy.hpp"

namespace hive::plugin_common {

class TenantsByName final : public tenancy::Tenancy {
 public:
  tenancy::Scope scopeOf(std::string_view principal) override {
    if (auto acting = tenancy::actingScope(principal)) return *acting;
    if (principal == "admin") return tenancy::Scope::everything();
    return {std::string(principal), false};
  }
};

}  // namespace hive::plugin_common
