#include "host/plugin_host.hpp"

#include <algorithm>

#include <boost/asio/io_context.hpp>

#include "hive/plugin.hpp"
#include "host/catalog.hpp"
#include "host/config_apply.hpp"
#include "host/host_state.hpp"
#include "host/swap.hpp"

namespace hive::host {

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

PluginHost::PluginHost(KernelConfig config, LogSystem& logs)
    : state_(std::make_unique<HostState>(std::move(config), logs)) {}

PluginHost::~PluginHost() { stop(); }

namespace {

// One instance per resolved plugin in start order, then one (failed) per
// refused plugin; true when a required plugin was refused.
bool addInstances(HostState& s, const Resolution& resolution, Diagnostics& diagnostics) {
  auto entryFor = [&](const std::string& name) {
    for (const auto& e : s.config.plugins)
      if (e.name == name) return e;
    return PluginEntry{name};
  };
  for (const auto* file : resolution.startOrder) {
    auto instance = std::make_unique<Instance>();
    instance->entry = entryFor(file->manifest.name);
    instance->status = {file->manifest.name, file->manifest.version, file->path, PluginState::kDiscovered,
                        instance->entry.required};
    instance->section = instance->entry.config;
    instance->order = s.instances.size();
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
    instance->order = s.instances.size();
    // Reported through the diagnostics, located at the plugin's config entry.
    s.setState(*instance, PluginState::kFailed, refusal.reason);
    if (refusal.required)
      diagnostics.error(refusal.location, "required " + refusal.reason);
    else
      diagnostics.warning(refusal.location, refusal.reason + "; running without it");
    requiredFailed |= refusal.required;
    s.instances.push_back(std::move(instance));
  }
  return requiredFailed;
}

}  // namespace

Status PluginHost::load(Diagnostics& diagnostics) {
  HostState& s = *state_;
  std::lock_guard lifecycle(s.lifecycle);
  Catalog catalog = scanPluginDirectories(s.config.pluginDirectories, HostAbi::current());
  for (const auto& refusal : catalog.refusals) s.log->warn("plugin file refused: " + refusal);
  std::vector<EnabledPlugin> enabled;
  for (const auto& entry : s.config.plugins)
    if (entry.enabled) enabled.push_back({entry.name, entry.versionRange, entry.required, entry.location});
  Resolution resolution = resolvePlugins(catalog, enabled);
  std::size_t first = s.instances.size();
  bool requiredFailed = addInstances(s, resolution, diagnostics);

  // The resolved files come first, in start order, and load from the bytes the
  // scan read.
  for (std::size_t i = 0; i < resolution.startOrder.size(); ++i) {
    auto& instance = s.instances[first + i];
    if (instance->status.state == PluginState::kFailed) continue;
    auto begin = Clock::now();
    auto generation = s.makeGeneration(*instance, *resolution.startOrder[i], instance->section, 1,
                                       PluginServiceView::Mode::kLive, diagnostics);
    instance->status.loadTime = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - begin);
    if (!generation.ok()) {
      s.fail(*instance, generation.status().message());
      failDependents(instance->status.name);
      continue;
    }
    instance->current = std::move(generation).value();
    s.setState(*instance, PluginState::kConfigured);
    s.log->debug(instance->current.manifest.label() + " loaded and configured in " +
                 std::to_string(instance->status.loadTime.count()) + " us");
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
    if (std::find(other->dependsOn.begin(), other->dependsOn.end(), failed) == other->dependsOn.end())
      continue;
    if (other->current.plugin != nullptr) {
      if (other->status.state == PluginState::kStarted) state_->stopInstance(*other);
      state_->destroyParked(other->current);
    }
    state_->fail(*other, "plugin '" + other->status.name + "' not started: it depends on '" + failed +
                             "', which failed");
    failDependents(other->status.name);
  }
}

Status PluginHost::start() {
  HostState& s = *state_;
  std::lock_guard lifecycle(s.lifecycle);
  if (!s.runtime) return failedPrecondition("the kernel was stopped; it cannot start again");
  if (!s.runtimeStarted) {
    s.runtime->start();
    s.runtimeStarted = true;
  }
  for (auto& instance : s.instances) {
    if (instance->status.state != PluginState::kConfigured) continue;
    Plugin* plugin = instance->current.plugin;
    Status started = guarded("start()", [&] { return plugin->start(); });
    if (!started.ok()) {
      // Whatever it did start must stop; what it provided goes.
      s.stopInstance(*instance);
      s.fail(*instance, instance->current.manifest.label() + ": start failed: " + started.toString());
      failDependents(instance->status.name);
      continue;
    }
    instance->status.generation = instance->current.number;
    s.setState(*instance, PluginState::kStarted);
    s.metrics
        ->gauge("hive_plugin_generation", "Generation serving, 1 + successful swaps",
                {{"plugin", instance->status.name}})
        .set(static_cast<double>(instance->current.number));
    s.log->info(instance->current.manifest.label() + " started");
  }
  for (const auto& i : s.instances)
    if (i->status.required && i->status.state != PluginState::kStarted)
      return failedPrecondition("required plugin '" + i->status.name +
                                "' did not start: " + i->status.reason);
  return okStatus();
}

namespace {

void destroyInstance(HostState& s, Instance& instance) {
  instance.current.destroy();
  if (instance.status.state != PluginState::kFailed) s.setState(instance, PluginState::kUnloaded);
}

}  // namespace

void PluginHost::stop() {
  HostState& s = *state_;
  std::lock_guard lifecycle(s.lifecycle);
  for (auto it = s.instances.rbegin(); it != s.instances.rend(); ++it) {
    Instance& instance = **it;
    if (instance.status.state != PluginState::kStarted) continue;
    s.stopInstance(instance);
    s.setState(instance, PluginState::kStopped);
    s.log->info(instance.current.manifest.label() + " stopped");
  }
  for (auto& r : s.retiring) {
    if (r.generation.plugin == nullptr) continue;
    Plugin* plugin = r.generation.plugin;
    (void)guarded("stop()", [&] {
      plugin->stop();
      return okStatus();
    });
    s.directory.cancelWatches(r.generation.owner());
  }
  if (!s.runtime) return;  // stopped before
  // With every thread joined no plugin code can be running: objects can go.
  // Then the runtime itself, whose queues may still hold plugin callbacks, and
  // only then the libraries those callbacks point into.
  s.runtime->stop();
  s.runtimeStarted = false;
  // Completions still queued (timers the plugins cancelled) run now, on this
  // thread, while the objects they refer to are alive.
  s.runtime->ioContext().restart();
  for (int round = 0; round < 16 && s.runtime->ioContext().poll() > 0; ++round) {
  }
  for (auto it = s.instances.rbegin(); it != s.instances.rend(); ++it) destroyInstance(s, **it);
  for (auto& r : s.retiring) r.generation.destroy();
  s.retiring.clear();
  s.runtime.reset();
  s.reaper.reap();
}

Status PluginHost::unload(const std::string& name) {
  HostState& s = *state_;
  std::lock_guard lifecycle(s.lifecycle);
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
    s.stopInstance(*target);
    s.setState(*target, PluginState::kStopped);
  }
  // The plugin's objects go while every kernel thread is parked in kernel code.
  if (!s.runtimeStarted) {
    destroyInstance(s, *target);
  } else if (!s.runtime->quiesce(std::chrono::seconds(10), [&] { destroyInstance(s, *target); })) {
    return deadlineExceeded("kernel threads did not park within 10s; plugin '" + name + "' stays loaded");
  }
  s.log->info("plugin '" + name + "' unloaded");
  return okStatus();
}

std::vector<std::string> PluginHost::reapLibraries() {
  std::lock_guard lifecycle(state_->lifecycle);
  return state_->reapLibraries();
}

Status PluginHost::reload(const std::string& name, const std::string& path, const ConfigNode* section) {
  std::lock_guard lifecycle(state_->lifecycle);
  return swapPlugin(*state_, name, path, nullptr, section);
}

Status PluginHost::reload(const std::string& name, const PluginFile& file) {
  std::lock_guard lifecycle(state_->lifecycle);
  return swapPlugin(*state_, name, file.path, &file, nullptr);
}

Status PluginHost::applyConfig(KernelConfig next, Diagnostics& diagnostics) {
  std::lock_guard lifecycle(state_->lifecycle);
  return applyKernelConfig(*this, *state_, std::move(next), diagnostics);
}

std::vector<RetiredGeneration> PluginHost::retired() const {
  std::lock_guard lock(state_->statusMutex);
  std::vector<RetiredGeneration> out;
  for (const auto& r : state_->retiring) out.push_back(r.info);
  return out;
}

std::vector<PluginStatus> PluginHost::status() const {
  std::vector<PluginStatus> out;
  {
    std::lock_guard lock(state_->statusMutex);
    for (const auto& i : state_->instances) out.push_back(i->status);
  }
  for (auto& s : out) s.leasesInFlight = state_->directory.leasesInFlight(s.name);
  return out;
}

Result<std::vector<health::PluginHealth>> PluginHost::checkHealth() {
  std::unique_lock lifecycle(state_->lifecycle, std::try_to_lock);
  if (!lifecycle.owns_lock()) return unavailable("the kernel is changing plugins now; ask again later");
  std::vector<health::PluginHealth> out;
  for (const auto& instance : state_->instances) {
    // Lifecycle changes hold the lock we hold: state and generation are stable.
    if (instance->status.state != PluginState::kStarted || instance->current.plugin == nullptr) continue;
    health::PluginHealth answer;
    answer.plugin = instance->status.name;
    answer.generation = instance->current.number;
    Plugin* plugin = instance->current.plugin;
    answer.status = guarded(instance->current.owner() + " health()", [&] { return plugin->health(); });
    out.push_back(std::move(answer));
  }
  return out;
}

std::uint64_t PluginHost::runningContentHash(const std::string& plugin) const {
  std::lock_guard lifecycle(state_->lifecycle);
  for (const auto& i : state_->instances)
    if (i->status.name == plugin && i->current.library) return i->current.library->contentHash();
  return 0;
}

std::string PluginHost::imageName(const std::string& plugin) const {
  for (const auto& i : state_->instances)
    if (i->status.name == plugin && i->current.library) return i->current.library->imageName();
  return {};
}

const KernelConfig& PluginHost::config() const { return state_->config; }
Runtime& PluginHost::runtime() { return *state_->runtime; }
MetricsRegistry& PluginHost::metrics() { return *state_->metrics; }
ServiceDirectory& PluginHost::services() { return state_->directory; }
Logger& PluginHost::log() { return *state_->log; }

}  // namespace hive::host
