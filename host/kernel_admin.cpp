#include "host/kernel_admin.hpp"

#include "host/plugin_host.hpp"
#include "host/reload_controller.hpp"
#include "host/service_registry.hpp"

namespace hive::host {

KernelAdmin::KernelAdmin(PluginHost& host) : host_(host) {}

Result<std::shared_ptr<KernelAdmin>> KernelAdmin::provide(PluginHost& host) {
  auto admin = std::make_shared<KernelAdmin>(host);
  ServiceKey key{admin::Kernel::kServiceId.name, admin::Kernel::kServiceId.major};
  // Order 0: the kernel comes before every plugin; nothing to pin (not a library).
  HIVE_TRY(host.services().provide("kernel", 0, key, admin, nullptr));
  return admin;
}

void KernelAdmin::attach(ReloadController* reloads) {
  std::lock_guard lock(mutex_);
  reloads_ = reloads;
}

std::string KernelAdmin::version() const { return HIVE_VERSION; }

std::vector<admin::PluginState> KernelAdmin::plugins() const {
  std::vector<admin::PluginState> out;
  for (const auto& s : host_.status()) {
    admin::PluginState p;
    p.name = s.name;
    p.version = s.version;
    p.state = std::string(pluginStateName(s.state));
    p.generation = s.generation;
    p.file = s.path;
    p.error = s.state == PluginState::kFailed ? s.reason : s.lastReloadError;
    p.leasesInFlight = s.leasesInFlight;
    out.push_back(std::move(p));
  }
  for (const auto& r : host_.retired()) {
    if (r.state != "zombie") continue;
    admin::PluginState p;
    p.name = r.name;
    p.version = r.version;
    p.state = "zombie";
    p.generation = r.generation;
    p.error = r.reason;
    out.push_back(std::move(p));
  }
  return out;
}

Status KernelAdmin::reloadPlugin(const std::string& name) {
  std::lock_guard lock(mutex_);
  if (reloads_ == nullptr)
    return unavailable("the kernel is not accepting reloads now (starting or stopping)");
  return reloads_->reloadPlugin(name);
}

Status KernelAdmin::reloadConfig() {
  std::lock_guard lock(mutex_);
  if (reloads_ == nullptr)
    return unavailable("the kernel is not accepting reloads now (starting or stopping)");
  return reloads_->reloadConfig();
}

}  // namespace hive::host
