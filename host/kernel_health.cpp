#include "host/kernel_health.hpp"

#include "host/plugin_host.hpp"
#include "host/service_registry.hpp"

namespace hive::host {

Result<std::shared_ptr<KernelHealth>> KernelHealth::provide(PluginHost& host) {
  auto checker = std::make_shared<KernelHealth>(host);
  ServiceKey key{health::Checker::kServiceId.name, health::Checker::kServiceId.major};
  // Order 0: the kernel comes before every plugin; nothing to pin (not a library).
  HIVE_TRY(host.services().provide("kernel", 0, key, checker, nullptr));
  return checker;
}

Result<std::vector<health::PluginHealth>> KernelHealth::check() { return host_.checkHealth(); }

}  // namespace hive::host
