// hive.tenancy/1 (SDK 2.6) — which tenant a caller belongs to. Provided by the
// plugin that authenticates callers (security_manager). A plugin that keeps
// objects for callers (task_manager) tags each object with the tenant of the
// caller that created it and shows a caller only its own tenant's objects:
// another tenant's object is "not found" (404), never "forbidden".
//
//   auto scope = tenancy ? tenancy->scopeOf(request.principal) : hive::tenancy::Scope::everything();
//   if (!scope.sees(task.tenant)) return notFound("no task " + id);
//
// Without a provider there is one tenant, "", and every caller sees it all.
#pragma once

#include <string>
#include <string_view>

#include "hive/services.hpp"

namespace hive::tenancy {

struct Scope {
  std::string tenant;       // the tenant its objects belong to; "" is the default tenant
  bool allTenants = false;  // sees and touches every tenant's objects (the `admin` role)

  static Scope everything() { return {"", true}; }
  bool sees(std::string_view objectTenant) const { return allTenants || objectTenant == tenant; }
};

class Tenancy : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.tenancy", 1};

  // The scope of `principal`, as hive.auth/1 named the caller
  // (http::Request::principal). Called on request paths: must not block. An
  // empty or unknown principal gets the default tenant without allTenants.
  virtual Scope scopeOf(std::string_view principal) = 0;
};

}  // namespace hive::tenancy
