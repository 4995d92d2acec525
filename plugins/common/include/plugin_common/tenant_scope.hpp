// Whose objects a caller sees (hive.tenancy/1): its provider's answer, or every
// tenant's when no provider runs (then there is one tenant, ""). Header-only,
// shared by the in-tree plugins that keep objects for callers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "hive/services.hpp"
#include "hive/services/http.hpp"
#include "hive/services/projects.hpp"
#include "hive/services/tenancy.hpp"

namespace hive::plugin_common {

inline tenancy::Scope scopeOf(ServiceRegistry& services, std::string_view principal) {
  auto tenancy = services.get<tenancy::Tenancy>();
  return tenancy.ok() ? (*tenancy)->scopeOf(principal) : tenancy::Scope::everything();
}

// Whose objects a list shows a caller of `scope`: its tenant's; for a caller
// that spans tenants, the one `?tenant=` names, or (nullopt) every tenant's.
inline std::optional<std::string> shownTenant(const tenancy::Scope& scope, const http::Request& request) {
  if (!scope.allTenants) return scope.tenant;
  if (const std::string* tenant = request.queryParam("tenant")) return *tenant;
  return std::nullopt;
}

// A caller's view: its tenant scope, narrowed to one project when its key is
// bound to one (hive.projects/1).
struct Viewer {
  tenancy::Scope scope;
  std::string project;  // "" when not bound to one

  bool sees(std::string_view objectTenant, std::string_view objectProject) const {
    return scope.sees(objectTenant) && (project.empty() || project == objectProject);
  }
};

inline Viewer viewerOf(ServiceRegistry& services, std::string_view principal) {
  Viewer viewer{scopeOf(services, principal), {}};
  if (auto projects = services.get<projects::Projects>(); projects.ok())
    viewer.project = (*projects)->boundProject(principal);
  return viewer;
}

}  // namespace hive::plugin_common
