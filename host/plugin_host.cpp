#include "host/plugin_host.hpp"

#include <algorithm>
#include <filesystem>
#include <mutex>

#include "hive/plugin.hpp"
#include "host/catalog.hpp"
#include "host/logging.hpp"
#include "host/metrics.hpp"
#include "host/plugin_context.hpp"
#include "host/plugin_library.hpp"
#include "host/runtime.hpp"
#include "host/service_registry.hpp"

namespace hive::host {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string_view pluginStateName(PluginState state) {
  switch (state) {
    case PluginState::kDiscovered: return "discovered";
    case PluginState::kLoaded: return "loaded";
    case PluginState::kConfigured: return "configured";
    case PluginState::kStarted: return "started";
    case PluginState::kStopped: return "stopped";
    case PluginState::kUnloaded: return "unloaded";
    case PluginState::kFailed: return "failed";
  }
  return "unknown";
}

struct PluginHost::Instance {
  PluginStatus status;
  const PluginEntry* entry = nullptr;
  PluginManifest manifest;  // from the loaded bytes
  std::vector<std::string> dependsOn;  // plugins that must be started first
  std::shared_ptr<PluginLibrary> library;
  std::unique_ptr<KernelPluginContext> context;
  Plugin* plugin = nullptr;
};

struct PluginHost::State {
  KernelConfig config;
  LogSystem& logs;
  std::unique_ptr<Logger> log;
  std::unique_ptr<MetricsRegistry> metrics;
  std::unique_ptr<Runtime> runtime;
  LibraryReaper reaper;
  ServiceDirectory directory;
  // Instances in start order; refused plugins are listed too (failed, no library).
  std::vector<std::unique_ptr<Instance>> instances;
  mutable std::mutex statusMutex;
  bool runtimeStarted = false;

  State(KernelConfig c, LogSystem& l) : config(std::move(c)), logs(l), log(l.logger("kernel")) {
    metrics = std::make_unique<MetricsRegistry>(*log);
    runtime = std::make_unique<Runtime>(config.ioThreads, config.blockingThreads, *log);
  }

  Instance* find(const std::string& name) {
    for (auto& i : instances)
      if (i->status.name == name) return i.get();
    return nullptr;
  }

  void setState(Instance& instance, PluginState s, std::string reason = {}) {
    {
      std::lock_guard lock(statusMutex);
      instance.status.state = s;
      if (!reason.empty()) instance.status.reason = std::move(reason);
    }
    metrics->gauge("hive_plugin_up", "1 when the plugin is started", {{"plugin", instance.status.name}})
        .set(s == PluginState::kStarted ? 1 : 0);
  }

  void fail(Instance& instance, std::string reason) {
    log->error(reason);
    metrics->counter("hive_plugin_failures_total", "Plugin load, configure and start failures",
                     {{"plugin", instance.status.name}})
        .increment();
    setState(instance, PluginState::kFailed, std::move(reason));
  }
};

PluginHost::PluginHost(KernelConfig config, LogSystem& logs)
    : state_(std::make_unique<State>(std::move(config), logs)) {}

PluginHost::~PluginHost() { stop(); }

Status PluginHost::load(Diagnostics& diagnostics) {
  State& s = *state_;
  const HostAbi host = HostAbi::current();
  Catalog catalog = scanPluginDirectories(s.config.pluginDirectories, host);
  for (const auto& refusal : catalog.refusals) s.log->warn("plugin file refused: " + refusal);

  std::vector<EnabledPlugin> enabled;
  for (const auto& entry : s.config.plugins)
    if (entry.enabled) enabled.push_back({entry.name, entry.versionRange, entry.required, entry.location});
  Resolution resolution = resolvePlugins(catalog, enabled);

  auto entryFor = [&](const std::string& name) -> const PluginEntry* {
    for (const auto& e : s.config.plugins)
      if (e.name == name) return &e;
    return nullptr;
  };
  for (const auto* file : resolution.startOrder) {
    auto instance = std::make_unique<Instance>();
    instance->entry = entryFor(file->manifest.name);
    instance->status = {file->manifest.name, file->manifest.version, file->path, PluginState::kDiscovered,
                        instance->entry->required};
    for (const auto& d : file->manifest.dependencies) instance->dependsOn.push_back(d.name);
    for (const auto& wanted : file->manifest.requiredServices)
      for (const auto& other : resolution.startOrder) {
        const auto& offers = other->manifest.provides;
        if (other != file && std::find(offers.begin(), offers.end(), wanted) != offers.end())
          instance->dependsOn.push_back(other->manifest.name);
      }
    s.instances.push_back(std::move(instance));
  }
  bool requiredFailed = false;
  for (const auto& refusal : resolution.refusals) {
    auto instance = std::make_unique<Instance>();
    instance->entry = entryFor(refusal.name);
    instance->status.name = refusal.name;
    instance->status.required = refusal.required;
    // Reported through the diagnostics, located at the plugin's config entry.
    s.setState(*instance, PluginState::kFailed, refusal.reason);
    if (refusal.required)
      diagnostics.error(refusal.location, "required " + refusal.reason);
    else
      diagnostics.warning(refusal.location, refusal.reason + "; running without it");
    requiredFailed |= refusal.required;
    s.instances.push_back(std::move(instance));
  }

  for (std::size_t order = 0; order < s.instances.size(); ++order) {
    Instance& instance = *s.instances[order];
    if (instance.status.state == PluginState::kFailed) continue;
    auto begin = Clock::now();
    auto library = PluginLibrary::load(instance.status.path, host, s.reaper);
    if (!library.ok()) {
      s.fail(instance, library.status().message());
      failDependents(instance.status.name);
      continue;
    }
    instance.library = std::move(library).value();
    instance.manifest = instance.library->manifest();
    if (instance.manifest.name != instance.status.name || instance.manifest.version != instance.status.version) {
      s.fail(instance, instance.status.path + ": file changed while loading (now " + instance.manifest.label() + ")");
      failDependents(instance.status.name);
      continue;
    }
    s.setState(instance, PluginState::kLoaded);

    std::string dataDirectory = (fs::path(s.config.dataDirectory) / instance.status.name).string();
    auto view = std::make_unique<PluginServiceView>(s.directory, instance.manifest, order, instance.library);
    instance.context = std::make_unique<KernelPluginContext>(
        instance.manifest, s.logs.logger(instance.status.name, instance.entry->logLevel), instance.entry->config,
        std::move(view), *s.runtime, *s.metrics, dataDirectory);
    auto plugin = instance.library->createPlugin(*instance.context);
    if (!plugin.ok()) {
      s.fail(instance, plugin.status().message());
      failDependents(instance.status.name);
      continue;
    }
    instance.plugin = *plugin;
    Diagnostics pluginDiagnostics;
    instance.plugin->configure(instance.entry->config, pluginDiagnostics);
    diagnostics.append(pluginDiagnostics);
    instance.status.loadTime = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - begin);
    if (pluginDiagnostics.hasErrors()) {
      s.fail(instance, instance.manifest.label() + ": invalid configuration (" +
                           std::to_string(pluginDiagnostics.errorCount()) + " errors)");
      failDependents(instance.status.name);
      continue;
    }
    s.setState(instance, PluginState::kConfigured);
    s.log->debug(instance.manifest.label() + " loaded and configured in " +
                 std::to_string(instance.status.loadTime.count()) + " us");
  }

  if (diagnostics.hasErrors())
    return invalidArgument(std::to_string(diagnostics.errorCount()) + " configuration errors");
  if (requiredFailed) return failedPrecondition("a required plugin cannot be loaded");
  for (const auto& i : s.instances)
    if (i->status.required && i->status.state == PluginState::kFailed)
      return failedPrecondition("required plugin '" + i->status.name + "' failed: " + i->status.reason);
  return okStatus();
}

void PluginHost::failDependents(const std::string& failed) {
  for (auto& other : state_->instances) {
    if (other->status.state == PluginState::kFailed) continue;
    if (std::find(other->dependsOn.begin(), other->dependsOn.end(), failed) == other->dependsOn.end()) continue;
    state_->fail(*other, "plugin '" + other->status.name + "' not started: it depends on '" + failed + "', which failed");
    failDependents(other->status.name);
  }
}

Status PluginHost::start() {
  State& s = *state_;
  if (!s.runtime) return failedPrecondition("the kernel was stopped; it cannot start again");
  if (!s.runtimeStarted) {
    s.runtime->start();
    s.runtimeStarted = true;
  }
  for (auto& instance : s.instances) {
    if (instance->status.state != PluginState::kConfigured) continue;
    Status started;
    try {
      started = instance->plugin->start();
    } catch (const std::exception& e) {
      started = internalError(std::string("exception escaped start(): ") + e.what());
    } catch (...) {
      started = internalError("exception escaped start()");
    }
    if (!started.ok()) {
      // Whatever it did start must stop; what it provided goes.
      stopInstance(*instance);
      s.fail(*instance, instance->manifest.label() + ": start failed: " + started.toString());
      failDependents(instance->status.name);
      continue;
    }
    instance->status.generation = 1;
    s.setState(*instance, PluginState::kStarted);
    s.log->info(instance->manifest.label() + " started");
  }
  for (const auto& i : s.instances)
    if (i->status.required && i->status.state != PluginState::kStarted)
      return failedPrecondition("required plugin '" + i->status.name + "' did not start: " + i->status.reason);
  return okStatus();
}

void PluginHost::stopInstance(Instance& instance) {
  try {
    instance.plugin->stop();
  } catch (...) {
    state_->log->error(instance.manifest.label() + ": exception escaped stop()");
  }
  state_->directory.withdrawAll(instance.status.name);
  state_->directory.cancelWatches(instance.status.name);
}

void PluginHost::destroyInstance(Instance& instance) {
  if (instance.plugin != nullptr) {
    instance.library->destroyPlugin(instance.plugin);
    instance.plugin = nullptr;
  }
  instance.context.reset();  // drops the service view and its library pin
  instance.library.reset();  // the library goes to the reaper once unpinned
  if (instance.status.state != PluginState::kFailed) state_->setState(instance, PluginState::kUnloaded);
}

void PluginHost::stop() {
  State& s = *state_;
  for (auto it = s.instances.rbegin(); it != s.instances.rend(); ++it) {
    Instance& instance = **it;
    if (instance.status.state != PluginState::kStarted) continue;
    stopInstance(instance);
    s.setState(instance, PluginState::kStopped);
    s.log->info(instance.manifest.label() + " stopped");
  }
  if (!s.runtime) return;  // stopped before
  // With every thread joined no plugin code can be running: objects can go.
  // Then the runtime itself, whose queues may still hold plugin callbacks, and
  // only then the libraries those callbacks point into.
  s.runtime->stop();
  s.runtimeStarted = false;
  for (auto it = s.instances.rbegin(); it != s.instances.rend(); ++it) destroyInstance(**it);
  s.runtime.reset();
  s.reaper.reap();
}

Status PluginHost::unload(const std::string& name) {
  State& s = *state_;
  Instance* target = s.find(name);
  if (target == nullptr) return notFound("no plugin named '" + name + "'");
  // Dependents go first, in reverse start order.
  for (auto it = s.instances.rbegin(); it != s.instances.rend(); ++it) {
    Instance& other = **it;
    if (&other == target || other.status.state != PluginState::kStarted) continue;
    if (std::find(other.dependsOn.begin(), other.dependsOn.end(), name) != other.dependsOn.end())
      HIVE_TRY(unload(other.status.name));
  }
  if (target->status.state == PluginState::kStarted) {
    stopInstance(*target);
    s.setState(*target, PluginState::kStopped);
  }
  // The plugin's objects go while every kernel thread is parked in kernel code.
  if (!s.runtimeStarted) {
    destroyInstance(*target);
  } else if (!s.runtime->quiesce(std::chrono::seconds(10), [&] { destroyInstance(*target); })) {
    return deadlineExceeded("kernel threads did not park within 10s; plugin '" + name + "' stays loaded");
  }
  s.log->info("plugin '" + name + "' unloaded");
  return okStatus();
}

std::vector<std::string> PluginHost::reapLibraries() {
  State& s = *state_;
  if (s.reaper.pending() == 0) return {};
  if (!s.runtimeStarted) return s.reaper.reap();
  std::vector<std::string> closed;
  if (!s.runtime->quiesce(std::chrono::seconds(10), [&] { closed = s.reaper.reap(); }))
    s.log->error("kernel threads did not park within 10s; released libraries stay mapped for now");
  return closed;
}

std::vector<PluginStatus> PluginHost::status() const {
  std::lock_guard lock(state_->statusMutex);
  std::vector<PluginStatus> out;
  for (const auto& i : state_->instances) out.push_back(i->status);
  return out;
}

std::string PluginHost::imageName(const std::string& plugin) const {
  for (const auto& i : state_->instances)
    if (i->status.name == plugin && i->library) return i->library->imageName();
  return {};
}

const KernelConfig& PluginHost::config() const { return state_->config; }
Runtime& PluginHost::runtime() { return *state_->runtime; }
MetricsRegistry& PluginHost::metrics() { return *state_->metrics; }
ServiceDirectory& PluginHost::services() { return state_->directory; }
Logger& PluginHost::log() { return *state_->log; }

}  // namespace hive::host
