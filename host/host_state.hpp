// The kernel's plugin bookkeeping, shared by PluginHost (load, start, stop,
// unload), Swap (swap.cpp) and ConfigApply (config_apply.cpp). Internal to the
// kernel: nothing outside host/ includes it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "host/catalog.hpp"
#include "host/logging.hpp"
#include "host/metrics.hpp"
#include "host/plugin_context.hpp"
#include "host/plugin_host.hpp"
#include "host/plugin_library.hpp"
#include "host/runtime.hpp"
#include "host/service_registry.hpp"

namespace hive::host {

using Clock = std::chrono::steady_clock;

// Runs one call into plugin code: no exception crosses back into the kernel.
template <typename Call>
Status guarded(const std::string& what, Call&& call) {
  try {
    return call();
  } catch (const std::exception& e) {
    return internalError("exception escaped " + what + ": " + e.what());
  } catch (...) {
    return internalError("exception escaped " + what);
  }
}

// One loaded generation of a plugin: its library, context and object. The
// members are destroyed object first, library last.
struct Generation {
  std::uint64_t number = 0;
  PluginManifest manifest;  // from the loaded bytes
  std::shared_ptr<PluginLibrary> library;
  std::unique_ptr<KernelPluginContext> context;
  Plugin* plugin = nullptr;

  std::string owner() const { return manifest.name + "#" + std::to_string(number); }
  void destroy();
};

struct Instance {
  PluginStatus status;
  PluginEntry entry;   // as configured (a copy: a config reload replaces the config)
  ConfigNode section;  // the config section the running generation was configured with
  std::size_t order = 0;
  std::vector<std::string> dependsOn;  // plugins that must be started first
  Generation current;
};

// A plugin that is to run `next` (a swap, or a plugin being enabled).
struct PlannedChange {
  const Instance* instance;
  const PluginManifest* next;
};

struct HostState {
  KernelConfig config;
  LogSystem& logs;
  std::unique_ptr<Logger> log;
  std::unique_ptr<MetricsRegistry> metrics;
  std::unique_ptr<Runtime> runtime;
  LibraryReaper reaper;
  ServiceDirectory directory;
  // Instances in start order; refused plugins are listed too (failed, no library).
  std::vector<std::unique_ptr<Instance>> instances;
  // Generations replaced by swaps, until their libraries are closed.
  struct Retiring {
    RetiredGeneration info;
    Generation generation;  // still holding the objects while draining/zombie
  };
  std::vector<Retiring> retiring;
  // Serialises load, start, stop, unload, reload and config apply.
  std::recursive_mutex lifecycle;
  mutable std::mutex statusMutex;
  bool runtimeStarted = false;

  HostState(KernelConfig c, LogSystem& l);

  Instance* find(const std::string& name);
  bool running(const std::string& name) const;
  // Whether a started plugin provides `wanted`.
  bool provided(const ServiceKey& wanted) const;
  void setState(Instance& instance, PluginState s, std::string reason = {});
  void fail(Instance& instance, std::string reason);
  void setGeneration(const Instance& instance);

  // Loads `file` as generation `number` of `instance` and configures it with
  // `section`; the view is a staging one for swaps. Diagnostics collect config
  // errors.
  Result<Generation> makeGeneration(const Instance& instance, const PluginFile& file,
                                    const ConfigNode& section, std::uint64_t number,
                                    PluginServiceView::Mode mode, Diagnostics& diagnostics);
  // After stop(), handlers the plugin cancelled may still be queued, holding
  // its objects: wait for drained() before anything is destroyed. False when
  // the deadline passed (the caller must then keep the objects).
  bool waitDrained(Plugin* plugin, const std::string& label);
  // Destroys a generation's objects while every kernel thread is parked.
  void destroyParked(Generation& g);
  // Stops a generation that never served (a failed start or swap): its
  // services and watches go, and its objects once it drained.
  void discard(Generation& g, const std::string& reason);
  // Stops the running generation of `instance`, withdrawing what it provides.
  void stopInstance(Instance& instance);

  // Whether the running set stays consistent once `changes` are made; names in
  // `blocker` a running consumer that would break (empty when none).
  Status checkSwapSet(const std::vector<PlannedChange>& changes, std::string& blocker) const;
  // A replaced generation drains, stops and goes to the reaper.
  void retire(std::unique_ptr<Instance> old);
  // Keeps a generation's objects and library (state zombie): destroying them
  // with work in flight would crash.
  void keepAsZombie(Generation& generation, const std::string& reason);
  // Closes libraries whose last pin went, after parking every kernel thread.
  std::vector<std::string> reapLibraries();
  void updateRetired(const std::vector<std::string>& closed);
};

}  // namespace hive::host
