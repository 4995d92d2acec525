// What the kernel hands each plugin instance. Everything a plugin may use comes
// from here: no singletons, no globals.
#pragma once

#include <string>

#include "hive/config.hpp"
#include "hive/executor.hpp"
#include "hive/log.hpp"
#include "hive/metrics.hpp"
#include "hive/services.hpp"

namespace hive {

// Owned by the kernel; valid from the plugin's construction until after its
// destructor returns. All accessors are thread-safe.
class PluginContext {
 public:
  virtual ~PluginContext() = default;

  virtual const std::string& pluginName() const = 0;
  virtual const std::string& pluginVersion() const = 0;
  // Logger named after the plugin; its level is set per plugin in the config.
  virtual Logger& log() = 0;
  // The plugin's own `config:` section, after ${VAR} expansion.
  virtual const ConfigNode& config() const = 0;
  virtual ServiceRegistry& services() = 0;
  // The kernel's I/O threads: short, non-blocking work only.
  virtual Executor& io() = 0;
  // A pool for blocking work (files, databases, child processes).
  virtual Executor& blocking() = 0;
  virtual Timers& timers() = 0;
  virtual Metrics& metrics() = 0;
  // A directory the plugin may write its durable files to (created by the kernel).
  virtual const std::string& dataDirectory() const = 0;

  // The kernel's boost::asio::io_context. Use hive/asio.hpp, not this.
  virtual void* nativeIoContext() = 0;
};

}  // namespace hive
