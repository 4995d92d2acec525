// The PluginContext a harnessed plugin receives: the fakes, owned in one place.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hive/context.hpp"
#include "hive/manifest.h"
#include "manual_executor.hpp"
#include "memory_metrics.hpp"
#include "memory_registry.hpp"

namespace hive::testing::detail {

// Keeps every line; "level: message".
class RecordingLogger final : public Logger {
 public:
  // hive::Logger
  void log(LogLevel level, std::string_view message) override;
  bool enabled(LogLevel level) const override { return level != LogLevel::kOff; }

  std::vector<std::string> lines() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

class HarnessContext final : public PluginContext {
 public:
  // `manifest` (null for a linked plugin) limits what the plugin may provide.
  HarnessContext(std::string name, std::string version, const HiveManifest* manifest);
  ~HarnessContext() override;

  // hive::PluginContext
  const std::string& pluginName() const override { return name_; }
  const std::string& pluginVersion() const override { return version_; }
  Logger& log() override { return logger_; }
  const ConfigNode& config() const override { return config_; }
  ServiceRegistry& services() override { return pluginView_; }
  Executor& io() override { return io_; }
  Executor& blocking() override { return blocking_; }
  Timers& timers() override { return timers_; }
  Metrics& metrics() override { return metrics_; }
  const std::string& dataDirectory() const override { return dataDirectory_; }
  void* nativeIoContext() override { return nullptr; }

  void setConfig(ConfigNode section) { config_ = std::move(section); }
  RecordingLogger& logger() { return logger_; }
  ManualExecutor& ioQueue() { return io_; }
  ManualExecutor& blockingQueue() { return blocking_; }
  ManualTimers& manualTimers() { return timers_; }
  ServiceStore& store() { return *store_; }
  RegistryView& pluginView() { return pluginView_; }
  RegistryView& testView() { return testView_; }

  // Drops queued work, timers, services and watches without running anything: they may
  // hold code of the plugin's library, which is about to be closed.
  void dropEverythingOfThePlugin();

 private:
  std::string name_;
  std::string version_;
  RecordingLogger logger_;
  ConfigNode config_ = ConfigNode::map();
  std::shared_ptr<ServiceStore> store_ = std::make_shared<ServiceStore>();
  RegistryView pluginView_;
  RegistryView testView_;
  ManualExecutor io_;
  ManualExecutor blocking_;
  ManualTimers timers_;
  MemoryMetrics metrics_{logger_};
  std::string dataDirectory_;
};

}  // namespace hive::testing::detail
