// hive.admin/1 — the kernel's own state and controls, provided by the kernel
// itself (provider name "kernel"), for the `api` plugin's admin and health routes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hive/services.hpp"
#include "hive/status.hpp"

namespace hive::admin {

struct PluginState {
  std::string name;
  std::string version;
  std::string state;  // loaded, configured, running, failed, stopping, stopped, zombie
  std::uint64_t generation = 0;
  std::string file;
  std::string error;  // why it failed, when it did
  std::vector<std::string> provides;
  std::uint64_t leasesInFlight = 0;
};

enum class Phase { kStarting, kReady, kDraining };

class Kernel : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.admin", 1};

  virtual Phase phase() const = 0;
  virtual std::string version() const = 0;
  virtual std::vector<PluginState> plugins() const = 0;
  // Blocks until the swap is done or refused (kFailedPrecondition with the reason).
  // Run it on the blocking executor.
  virtual Status reloadPlugin(const std::string& name) = 0;
  virtual Status reloadConfig() = 0;
};

}  // namespace hive::admin
