// The kernel's implementation of hive::PluginContext for one plugin instance.
#pragma once

#include <memory>
#include <string>

#include "hive/context.hpp"
#include "host/service_registry.hpp"

namespace hive::host {

class Runtime;

class KernelPluginContext final : public PluginContext {
 public:
  KernelPluginContext(const PluginManifest& manifest, std::unique_ptr<Logger> log, ConfigNode config,
                      std::unique_ptr<PluginServiceView> services, Runtime& runtime, Metrics& metrics,
                      std::string dataDirectory);

  // hive::PluginContext
  const std::string& pluginName() const override { return manifest_.name; }
  const std::string& pluginVersion() const override { return manifest_.version; }
  Logger& log() override { return *log_; }
  const ConfigNode& config() const override { return config_; }
  ServiceRegistry& services() override { return *services_; }
  Executor& io() override;
  Executor& blocking() override;
  Timers& timers() override;
  Metrics& metrics() override { return metrics_; }
  const std::string& dataDirectory() const override { return dataDirectory_; }
  void* nativeIoContext() override;

  PluginServiceView& serviceView() { return *services_; }

 private:
  const PluginManifest& manifest_;
  std::unique_ptr<Logger> log_;
  ConfigNode config_;
  std::unique_ptr<PluginServiceView> services_;
  Runtime& runtime_;
  Metrics& metrics_;
  std::string dataDirectory_;
};

}  // namespace hive::host
