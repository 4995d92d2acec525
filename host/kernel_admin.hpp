// hive.admin/1 as the kernel provides it (provider "kernel"): the plugins'
// state and the reload controls, for the `api` plugin's health and admin routes.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hive/services/admin.hpp"

namespace hive::host {

class PluginHost;
class ReloadController;

class KernelAdmin final : public admin::Kernel {
 public:
  explicit KernelAdmin(PluginHost& host);

  // Publishes this service in the host's directory under provider "kernel".
  static Result<std::shared_ptr<KernelAdmin>> provide(PluginHost& host);

  void setPhase(admin::Phase phase) { phase_ = phase; }
  // Reloads are refused (kUnavailable) until the controller is attached, and
  // after it is detached (nullptr).
  void attach(ReloadController* reloads);

  admin::Phase phase() const override { return phase_; }
  std::string version() const override;
  std::vector<admin::PluginState> plugins() const override;
  Status reloadPlugin(const std::string& name) override;
  Status reloadConfig() override;

 private:
  PluginHost& host_;
  std::atomic<admin::Phase> phase_{admin::Phase::kStarting};
  mutable std::mutex mutex_;
  ReloadController* reloads_ = nullptr;
};

}  // namespace hive::host
