// How a named tenant's object is kept apart in a store id or an index key:
// "<tenant>/<name>", the default tenant's as plain "<name>" (so what was
// stored before tenancy stays the default tenant's). A tenant over 40
// characters is shortened to its first 20 and its hash, so that ids stay
// within the store's 128 characters. Stores hold these keys: they must not change.
#pragma once

#include <string>
#include <string_view>

#include "plugin_common/fnv.hpp"

namespace hive::plugin_common {

inline std::string tenantKeyPart(std::string_view tenant) {
  if (tenant.size() <= 40) return std::string(tenant);
  return std::string(tenant.substr(0, 20)) + "~" + fnvName(tenant);
}

inline std::string tenantQualified(std::string_view tenant, std::string_view name) {
  if (tenant.empty()) return std::string(name);
  return tenantKeyPart(tenant) + "/" + std::string(name);
}

}  // namespace hive::plugin_common
