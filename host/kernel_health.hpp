// hive.health/1 as the kernel provides it (provider "kernel"): every started
// plugin's health(), for the monitoring engine's readiness.
#pragma once

#include <memory>
#include <vector>

#include "hive/services/health.hpp"

namespace hive::host {

class PluginHost;

class KernelHealth final : public health::Checker {
 public:
  explicit KernelHealth(PluginHost& host) : host_(host) {}

  // Publishes this service in the host's directory under provider "kernel".
  static Result<std::shared_ptr<KernelHealth>> provide(PluginHost& host);

  // hive::health::Checker
  Result<std::vector<health::PluginHealth>> check() override;

 private:
  PluginHost& host_;
};

}  // namespace hive::host
