// The kernel's plugin lifecycle: discover, resolve, load, configure, start in
// dependency order, stop in reverse, unload.
//
//   discovered -> loaded -> configured -> started -> stopped -> unloaded
//   any step -> failed (with a one-line reason); dependents are not started.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hive/config.hpp"
#include "hive/services/health.hpp"
#include "host/config/kernel_config.hpp"
#include "host/resolver.hpp"

namespace hive::host {

class LogSystem;
class MetricsRegistry;
class Runtime;
class ServiceDirectory;
class LibraryReaper;
struct HostState;
struct PluginFile;

enum class PluginState { kDiscovered, kLoaded, kConfigured, kStarted, kStopped, kUnloaded, kFailed };

// A generation replaced by a hot swap, until its library is closed.
struct RetiredGeneration {
  std::string name;
  std::string version;
  std::uint64_t generation = 0;
  std::string imageName;
  // "draining": waiting for in-flight work; "pinned": stopped, leases still hold
  // the library; "zombie": could not be unmapped (or its drain deadline passed),
  // it stays mapped and is never re-initialised.
  std::string state;
  std::string reason;
};

std::string_view pluginStateName(PluginState state);

struct PluginStatus {
  std::string name;
  std::string version;  // empty when no file was selected
  std::string path;
  PluginState state = PluginState::kDiscovered;
  bool required = false;
  std::uint64_t generation = 0;
  std::string reason;  // why it failed
  std::chrono::microseconds loadTime{0};
  std::size_t leasesInFlight = 0;
  std::uint64_t reloads = 0;    // successful swaps
  std::string lastReloadError;  // empty after a successful swap
};

class PluginHost {
 public:
  PluginHost(KernelConfig config, LogSystem& logs);
  ~PluginHost();
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;

  // Discovers, resolves, loads and configures every enabled plugin; starts
  // nothing. Configuration errors (with locations) go to `diagnostics`. Fails
  // when a configuration error was found or a required plugin cannot load.
  Status load(Diagnostics& diagnostics);

  // Starts the executors and then every configured plugin in dependency order.
  // A plugin that fails is reported and its dependents are skipped; fails only
  // when a required plugin did not start.
  Status start();

  // Stops started plugins in reverse order, then the executors, then destroys
  // every plugin object and closes the libraries no lease pins. Idempotent.
  void stop();

  // Stops and unloads one plugin while the rest run (its dependents are
  // stopped first). The library stays mapped while leases of its services live.
  Status unload(const std::string& name);

  // Closes libraries whose last pin went since the last call, after parking
  // every kernel thread; returns their image names.
  std::vector<std::string> reapLibraries();

  // Hot swap of a started plugin to the file at `path` (when empty: the highest
  // version in its configured range found in the plugin directories), with the
  // config section `section` (when null: its current one). On any failure the
  // running generation never stopped serving and the reason is returned.
  Status reload(const std::string& name, const std::string& path = {}, const ConfigNode* section = nullptr);
  // The same to a file already read (a rescan's choice), without reading it again.
  Status reload(const std::string& name, const PluginFile& file);

  // Applies a new, already validated configuration to the running kernel:
  // plugins enabled, disabled, swapped (version range or file changed), or
  // reconfigured (section changed; a plugin that cannot reconfigure live is
  // swapped with its new section). Any rejection rolls back what was applied
  // and the running configuration stays. Kernel settings other than log levels
  // take effect at the next start (reported as warnings).
  Status applyConfig(KernelConfig next, Diagnostics& diagnostics);

  // Generations replaced by swaps whose libraries are not closed yet.
  std::vector<RetiredGeneration> retired() const;

  std::vector<PluginStatus> status() const;
  // health() of every started plugin, in start order (hive.health/1). Calls
  // into plugins only when no lifecycle change runs, and never waits for one:
  // kUnavailable at once while one does (a swap may drain for seconds, and the
  // plugin asking may be the one being swapped).
  Result<std::vector<health::PluginHealth>> checkHealth();
  // The content hash of the file the serving generation was loaded from (0 when none).
  std::uint64_t runningContentHash(const std::string& plugin) const;
  // The image name of a loaded plugin's private copy (see PluginLibrary).
  std::string imageName(const std::string& plugin) const;

  const KernelConfig& config() const;
  Runtime& runtime();
  MetricsRegistry& metrics();
  ServiceDirectory& services();
  Logger& log();

 private:
  void failDependents(const std::string& failed);
  std::unique_ptr<HostState> state_;
};

}  // namespace hive::host
