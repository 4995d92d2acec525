#include "roles.hpp"

#include <algorithm>

namespace hive::security_manager {
namespace {

bool validName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() < 'a' || name.front() > 'z') return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

}  // namespace

const std::map<std::string, PermissionSet, std::less<>>& builtInRoles() {
  // Each role is what its holder needs and no more: an operator runs the
  // platform but cannot mint keys, a submitter cannot touch agents or plugins,
  // an agent only connects, a viewer reads what is not about security or the
  // kernel's configuration.
  static const std::map<std::string, PermissionSet, std::less<>> kRoles = {
      {"admin", {"*"}},
      {"operator",
       {"tasks:read",        "tasks:write",        "agents:read",        "agents:write",  "workflows:read",
        "workflows:write",   "messages:read",      "messages:write",     "contexts:read", "contexts:write",
        "integrations:read", "integrations:write", "batches:read",       "batches:write", "admin:read",
        "admin:write",       "metrics:read",       "observability:read", "events:read",   "api:read",
        "projects:read",     "projects:write",     "projects:export",    "projects:erase"}},
      {"submitter",
       {"tasks:read", "tasks:write", "workflows:read", "workflows:write", "messages:read", "messages:write",
        "contexts:read", "contexts:write", "batches:read", "batches:write", "events:read", "api:read",
        "projects:read"}},
      {"agent", {"agents:connect"}},
      {"viewer",
       {"tasks:read", "agents:read", "workflows:read", "messages:read", "contexts:read", "integrations:read",
        "batches:read", "metrics:read", "observability:read", "events:read", "api:read", "projects:read"}},
  };
  return kRoles;
}

bool validPermissionPattern(std::string_view pattern) {
  if (pattern == "*") return true;
  std::size_t colon = pattern.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view resource = pattern.substr(0, colon), action = pattern.substr(colon + 1);
  return validName(resource) && (action == "*" || validName(action));
}

bool grants(const PermissionSet& granted, std::string_view permission) {
  if (granted.count("*") != 0 || granted.find(permission) != granted.end()) return true;
  std::size_t colon = permission.find(':');
  if (colon == std::string_view::npos) return false;
  std::string wildcard(permission.substr(0, colon + 1));
  wildcard += '*';
  return granted.find(wildcard) != granted.end();
}

Roles::Roles(const std::map<std::string, PermissionSet, std::less<>>& custom) : roles_(builtInRoles()) {
  for (const auto& [name, permissions] : custom) roles_.emplace(name, permissions);
}

bool Roles::allows(std::string_view role, std::string_view permission) const {
  auto found = roles_.find(role);
  return found != roles_.end() && grants(found->second, permission);
}

}  // namespace hive::security_manager
