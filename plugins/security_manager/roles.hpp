// Roles: named sets of permissions. Permissions are `resource:action`
// (`tasks:read`); a role may grant `resource:*` (every action on a resource)
// or `*` (everything). Five roles are built in (docs/security.md has the
// table); the config adds custom ones, never redefines a built-in.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace hive::security_manager {

using PermissionSet = std::set<std::string, std::less<>>;

// admin, operator, submitter, agent, viewer, with their permissions.
const std::map<std::string, PermissionSet, std::less<>>& builtInRoles();

// `resource:action` with [a-z][a-z0-9_]* on both sides, or `resource:*`, or `*`.
bool validPermissionPattern(std::string_view pattern);

// Whether `granted` (patterns) covers `permission` (never a pattern).
bool grants(const PermissionSet& granted, std::string_view permission);

class Roles {
 public:
  // Built-in roles plus `custom`; the caller has validated `custom`.
  explicit Roles(const std::map<std::string, PermissionSet, std::less<>>& custom = {});

  bool known(std::string_view role) const { return roles_.find(role) != roles_.end(); }
  bool allows(std::string_view role, std::string_view permission) const;
  const std::map<std::string, PermissionSet, std::less<>>& all() const { return roles_; }

 private:
  std::map<std::string, PermissionSet, std::less<>> roles_;
};

}  // namespace hive::security_manager
