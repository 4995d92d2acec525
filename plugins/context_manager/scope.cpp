#include "scope.hpp"

#include <array>

#include "plugin_common/tenant_key.hpp"

namespace hive::context_manager {

namespace {

bool isNameCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

}  // namespace

Status checkScope(const std::string& scope) {
  static constexpr std::array<std::string_view, 4> kKinds{"project", "run", "agent", "task"};
  auto colon = scope.find(':');
  std::string_view kind =
      colon == std::string::npos ? std::string_view() : std::string_view(scope).substr(0, colon);
  bool known = false;
  for (std::string_view candidate : kKinds) known = known || kind == candidate;
  if (!known)
    return invalidArgument("scope '" + scope +
                           "' must be project:<name>, run:<id>, agent:<name> or task:<id>");
  std::string_view name = std::string_view(scope).substr(colon + 1);
  if (name.empty() || name.size() > 100)
    return invalidArgument("the name of scope '" + scope + "' must have 1 to 100 characters");
  for (char c : name)
    if (!isNameCharacter(c))
      return invalidArgument("the name of scope '" + scope +
                             "' may only hold letters, digits, '.', '_' and '-'");
  return okStatus();
}

std::string ScopeRef::text() const { return tenant.empty() ? scope : scope + " of tenant " + tenant; }

std::string scopeKey(const ScopeRef& context) {
  return plugin_common::tenantQualified(context.tenant, context.scope);
}

std::string indexFileStem(const ScopeRef& context) {
  if (context.tenant.empty()) return context.scope;
  std::string tenant = plugin_common::tenantKeyPart(context.tenant);
  for (char& c : tenant)
    if (!isNameCharacter(c) && c != '~') c = '_';
  return tenant + "@" + context.scope;
}

Status checkTenant(std::string_view tenant) {
  if (tenant.size() > 64) return invalidArgument("a tenant has at most 64 characters");
  for (char c : tenant)
    if (!isNameCharacter(c))
      return invalidArgument("a tenant may only hold letters, digits, '.', '_' and '-'");
  return okStatus();
}

}  // namespace hive::context_manager
