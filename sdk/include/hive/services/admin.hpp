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

// A swap started with Kernel::startReload(), as it went.
struct ReloadRecord {
  enum class State { kQueued, kRunning, kSwapped, kFailed };
  std::uint64_t id = 0;
  std::string plugin;
  State state = State::kQueued;
  std::uint64_t generationBefore = 0;  // serving when the reload was asked for
  std::uint64_t generationAfter = 0;   // serving when it ended (kSwapped: the new one)
  std::string error;                   // kFailed: why; the old generation keeps serving
};

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

  // Queues a swap of `name` on a kernel thread and returns its id at once
  // (kNotFound: no such plugin; kUnavailable: not accepting reloads now;
  // kResourceExhausted: too many queued). Unlike reloadPlugin() nothing waits
  // for the caller, so a plugin may ask for its own swap from a request it
  // serves. Reloads run one at a time, in order.
  virtual Result<std::uint64_t> startReload(const std::string& name) {
    return unimplemented("this kernel cannot reload '" + name + "' asynchronously");
  }
  // The record of a reload started with startReload(); kNotFound once
  // forgotten (the kernel keeps the most recent ones).
  virtual Result<ReloadRecord> reloadRecord(std::uint64_t id) const {
    return notFound("no reload " + std::to_string(id));
  }
};

}  // namespace hive::admin
