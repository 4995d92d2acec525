#include "tenant_keys.hpp"

#include "plugin_common/fnv.hpp"
#include "plugin_common/tenant_key.hpp"

namespace hive::workflow_engine {

std::string workflowKey(std::string_view tenant, std::string_view name) {
  return plugin_common::tenantQualified(tenant, name);
}

std::string runKeyId(std::string_view tenant, std::string_view key) {
  if (tenant.empty()) return std::string(key);
  std::string id = "~" + std::string(tenant) + "~";
  // A long key is shortened with its hash; the run it names is checked to be
  // this key's (Engine::startRun), so a collision cannot hand over a run.
  return id.size() + key.size() <= 128 ? id + std::string(key) : id + plugin_common::fnvName(key);
}

}  // namespace hive::workflow_engine
