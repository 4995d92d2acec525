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
//
// A plugin that calls another plugin's route for a tenant's object (a workflow
// run submitting its step's task) names itself and that tenant as the caller
// (SDK 2.10):
//
//   request.principal = hive::tenancy::actingFor("workflow_engine", run.tenant);
//
// The provider answers such a principal with actingScope(): that tenant, never
// every tenant. No HTTP caller can be named so: the api plugin refuses a
// hive.auth/1 decision whose principal starts with "plugin:".
#pragma once

#include <optional>
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
  // empty or unknown principal gets the default tenant without allTenants; a
  // plugin acting for a tenant (actingFor) gets actingScope(principal).
  virtual Scope scopeOf(std::string_view principal) = 0;
};

inline constexpr std::string_view kPluginPrincipalPrefix = "plugin:";

// "plugin:<plugin>" for the default tenant, "plugin:<plugin>@<tenant>" for another.
inline std::string actingFor(std::string_view plugin, std::string_view tenant) {
  std::string principal = std::string(kPluginPrincipalPrefix) + std::string(plugin);
  if (!tenant.empty()) principal += "@" + std::string(tenant);
  return principal;
}

// The scope of a principal actingFor() made; nullopt for any other principal.
inline std::optional<Scope> actingScope(std::string_view principal) {
  if (principal.substr(0, kPluginPrincipalPrefix.size()) != kPluginPrincipalPrefix) return std::nullopt;
  std::string_view rest = principal.substr(kPluginPrincipalPrefix.size());
  std::size_t at = rest.find('@');
  return Scope{at == std::string_view::npos ? std::string() : std::string(rest.substr(at + 1)), false};
}

}  // namespace hive::tenancy
