#include "host/host_state.hpp"

#include <algorithm>
#include <filesystem>
#include <thread>

#include "hive/plugin.hpp"
#include "host/plugin_signature.hpp"
#include "host/semver.hpp"

namespace hive::host {

namespace fs = std::filesystem;

void Generation::destroy() {
  if (plugin != nullptr) library->destroyPlugin(plugin);
  plugin = nullptr;
  context.reset();  // drops the service view and its library pin
  library.reset();  // the library goes to the reaper once unpinned
}

HostState::HostState(KernelConfig c, LogSystem& l) : config(std::move(c)), logs(l), log(l.logger("kernel")) {
  metrics = std::make_unique<MetricsRegistry>(*log);
  runtime = std::make_unique<Runtime>(config.ioThreads, config.blockingThreads, *log);
}

Instance* HostState::find(const std::string& name) {
  for (auto& i : instances)
    if (i->status.name == name) return i.get();
  return nullptr;
}

bool HostState::running(const std::string& name) const {
  return std::any_of(instances.begin(), instances.end(), [&](const auto& i) {
    return i->status.name == name && i->status.state == PluginState::kStarted;
  });
}

bool HostState::provided(const ServiceKey& wanted) const {
  return std::any_of(instances.begin(), instances.end(), [&](const auto& i) {
    const auto& offers = i->current.manifest.provides;
    return i->status.state == PluginState::kStarted &&
           std::find(offers.begin(), offers.end(), wanted) != offers.end();
  });
}

void HostState::setState(Instance& instance, PluginState s, std::string reason) {
  {
    std::lock_guard lock(statusMutex);
    instance.status.state = s;
    if (!reason.empty()) instance.status.reason = std::move(reason);
  }
  metrics->gauge("hive_plugin_up", "1 when the plugin is started", {{"plugin", instance.status.name}})
      .set(s == PluginState::kStarted ? 1 : 0);
}

void HostState::fail(Instance& instance, std::string reason) {
  log->error(reason);
  metrics
      ->counter("hive_plugin_failures_total", "Plugin load, configure and start failures",
                {{"plugin", instance.status.name}})
      .increment();
  setState(instance, PluginState::kFailed, std::move(reason));
}

void HostState::setGeneration(const Instance& instance) {
  metrics
      ->gauge("hive_plugin_generation", "Generation serving, 1 + successful swaps",
              {{"plugin", instance.status.name}})
      .set(static_cast<double>(instance.current.number));
}

Result<Generation> HostState::makeGeneration(const Instance& instance, const PluginFile& file,
                                             const ConfigNode& section, std::uint64_t number,
                                             PluginServiceView::Mode mode, Diagnostics& diagnostics) {
  Generation g;
  g.number = number;
  // A file a rescan knew unchanged is read now, once, for the check and the load.
  PluginFile read = HIVE_TRY(withBytes(file));
  HIVE_TRY(verifyPluginSignature(read, config.pluginTrust));
  g.library = HIVE_TRY(PluginLibrary::load(read, reaper));
  g.manifest = g.library->manifest();
  if (g.manifest.name != instance.status.name)
    return failedPrecondition(file.path + ": holds " + g.manifest.label() + ", not plugin '" +
                              instance.status.name + "'");
  std::string dataDirectory = (fs::path(config.dataDirectory) / g.manifest.name).string();
  std::error_code created;
  fs::create_directories(dataDirectory, created);
  if (created)
    return unavailable(g.manifest.label() + ": cannot create its data directory " + dataDirectory + ": " +
                       created.message());
  auto view = std::make_unique<PluginServiceView>(directory, g.library->manifest(), instance.order, g.library,
                                                  g.owner(), mode);
  g.context = std::make_unique<KernelPluginContext>(
      g.library->manifest(), logs.logger(g.manifest.name, instance.entry.logLevel), section, std::move(view),
      *runtime, *metrics, dataDirectory);
  g.plugin = HIVE_TRY(g.library->createPlugin(*g.context));
  Diagnostics pluginDiagnostics;
  Plugin* plugin = g.plugin;
  Status configured = guarded("configure()", [&] {
    plugin->configure(section, pluginDiagnostics);
    return okStatus();
  });
  if (!configured.ok())
    pluginDiagnostics.error(section.location(), g.manifest.label() + ": " + configured.message());
  diagnostics.append(pluginDiagnostics);
  if (pluginDiagnostics.hasErrors()) {
    auto count = pluginDiagnostics.errorCount();
    g.destroy();
    return invalidArgument(g.manifest.label() + ": invalid configuration (" + std::to_string(count) +
                           " errors)");
  }
  return g;
}

bool HostState::waitDrained(Plugin* plugin, const std::string& label) {
  if (!runtimeStarted) return true;  // no thread left to run anything
  auto deadline = Clock::now() + config.drainDeadline;
  for (auto pause = std::chrono::microseconds(50);;
       pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(5))) {
    bool drained = false;
    Status asked = guarded("drained()", [&] {
      drained = plugin->drained();
      return okStatus();
    });
    if (!asked.ok()) {
      log->error(label + ": " + asked.message());
      return false;
    }
    if (drained) return true;
    if (Clock::now() >= deadline) {
      log->error(label + ": work still in flight " + std::to_string(config.drainDeadline.count()) +
                 " ms after stop(); its objects are kept");
      return false;
    }
    std::this_thread::sleep_for(pause);
  }
}

void HostState::destroyParked(Generation& g) {
  if (!runtimeStarted || !runtime->quiesce(std::chrono::seconds(10), [&] { g.destroy(); })) g.destroy();
}

void HostState::discard(Generation& g, const std::string& reason) {
  if (g.plugin == nullptr) return;
  directory.cancelWatches(g.owner());
  if (waitDrained(g.plugin, g.manifest.label()))
    destroyParked(g);
  else
    keepAsZombie(g, reason);
}

void HostState::stopInstance(Instance& instance) {
  Plugin* plugin = instance.current.plugin;
  Status stopped = guarded("stop()", [&] {
    plugin->stop();
    return okStatus();
  });
  if (!stopped.ok()) log->error(instance.current.manifest.label() + ": " + stopped.message());
  directory.withdrawAll(instance.status.name);
  directory.cancelWatches(instance.current.owner());
  if (!waitDrained(plugin, instance.current.manifest.label()))
    keepAsZombie(instance.current, "did not drain after stop()");
}

namespace {

bool accepts(const std::string& rangeText, const std::string& versionText) {
  auto range = VersionRange::parse(rangeText);
  auto version = Version::parse(versionText);
  return range.ok() && version.ok() && range->contains(*version);
}

}  // namespace

Status HostState::checkSwapSet(const std::vector<PlannedChange>& changes, std::string& blocker) const {
  auto planFor = [&](const std::string& name) -> const PlannedChange* {
    for (const auto& p : changes)
      if (p.instance->status.name == name) return &p;
    return nullptr;
  };
  auto providedAfter = [&](const ServiceKey& wanted) {
    return std::any_of(instances.begin(), instances.end(), [&](const auto& other) {
      const PlannedChange* p = planFor(other->status.name);
      const auto& offers = p ? p->next->provides : other->current.manifest.provides;
      return other->status.state == PluginState::kStarted &&
             std::find(offers.begin(), offers.end(), wanted) != offers.end();
    });
  };
  // Running plugins outside the set must accept what the set becomes.
  for (const auto& other : instances) {
    if (other->status.state != PluginState::kStarted || planFor(other->status.name)) continue;
    const PluginManifest& m = other->current.manifest;
    blocker = other->status.name;
    for (const auto& dependency : m.dependencies)
      if (const PlannedChange* p = planFor(dependency.name);
          p && !accepts(dependency.range, p->next->version))
        return failedPrecondition(p->next->label() + ": running " + m.label() + " needs '" + dependency.name +
                                  "' " + dependency.range);
    for (const auto& wanted : m.requiredServices)
      if (!providedAfter(wanted))
        return failedPrecondition("running " + m.label() + " requires " + wanted.toString() +
                                  ", which the new generations no longer provide");
  }
  blocker.clear();
  // And every new generation must find what it needs.
  for (const auto& p : changes) {
    for (const auto& dependency : p.next->dependencies) {
      const Instance* provider = nullptr;
      for (const auto& other : instances)
        if (other->status.name == dependency.name && other->status.state == PluginState::kStarted)
          provider = other.get();
      const PlannedChange* moving = provider ? planFor(provider->status.name) : nullptr;
      if (!provider || !accepts(dependency.range, moving ? moving->next->version : provider->status.version))
        return failedPrecondition(p.next->label() + ": depends on '" + dependency.name + "' " +
                                  dependency.range + ", which is not running in a matching version");
    }
    for (const auto& wanted : p.next->requiredServices)
      if (!providedAfter(wanted))
        return failedPrecondition(p.next->label() + ": requires " + wanted.toString() +
                                  ", which no running plugin provides");
  }
  return okStatus();
}

void HostState::retire(std::unique_ptr<Instance> old) {
  Generation& g = old->current;
  RetiredGeneration info{old->status.name,       g.manifest.version, g.number,
                         g.library->imageName(), "draining",         {}};
  Plugin* plugin = g.plugin;
  g.context->serviceView().retire();
  (void)guarded("beginDrain()", [&] {
    plugin->beginDrain();
    return okStatus();
  });
  if (!waitDrained(plugin, "plugin '" + info.name + "' generation " + std::to_string(info.generation))) {
    // Destroying objects with work in flight would crash: keep them, and say so.
    info.state = "zombie";
    info.reason = "drain deadline of " + std::to_string(config.drainDeadline.count()) + " ms passed";
    log->error("plugin '" + info.name + "' generation " + std::to_string(info.generation) + ": " +
               info.reason + "; it stays mapped");
    retiring.push_back({std::move(info), std::move(g)});
    updateRetired({});
    return;
  }
  (void)guarded("stop()", [&] {
    plugin->stop();
    return okStatus();
  });
  directory.cancelWatches(g.owner());
  destroyParked(g);
  info.state = "pinned";
  retiring.push_back({std::move(info), Generation{}});
  // The library closes now unless a lease still pins it; then later, from
  // reapLibraries().
  reapLibraries();
}

void HostState::keepAsZombie(Generation& generation, const std::string& reason) {
  if (generation.plugin == nullptr) return;
  RetiredGeneration info{generation.manifest.name,
                         generation.manifest.version,
                         generation.number,
                         generation.library ? generation.library->imageName() : "",
                         "zombie",
                         reason};
  log->error(generation.manifest.label() + " generation " + std::to_string(generation.number) + ": " +
             reason + "; it stays mapped");
  retiring.push_back({std::move(info), std::move(generation)});
  generation = Generation{};
}

std::vector<std::string> HostState::reapLibraries() {
  std::vector<std::string> closed;
  if (reaper.pending() > 0) {
    if (!runtimeStarted) {
      closed = reaper.reap();
    } else if (!runtime->quiesce(std::chrono::seconds(10), [&] { closed = reaper.reap(); })) {
      log->error("kernel threads did not park within 10s; released libraries stay mapped for now");
    }
  }
  updateRetired(closed);
  return closed;
}

void HostState::updateRetired(const std::vector<std::string>& closed) {
  std::size_t zombies = 0;
  {
    std::lock_guard lock(statusMutex);
    for (auto it = retiring.begin(); it != retiring.end();) {
      auto& r = *it;
      bool wasClosed = std::find(closed.begin(), closed.end(), r.info.imageName) != closed.end();
      if (r.info.state == "pinned" && wasClosed) {
        if (!isImageMapped(r.info.imageName)) {
          it = retiring.erase(it);  // closed and unmapped: gone for good
          continue;
        }
        r.info.state = "zombie";
        r.info.reason = "still mapped after dlclose (a STB_GNU_UNIQUE symbol or a thread_local keeps it)";
        log->error("plugin '" + r.info.name + "' generation " + std::to_string(r.info.generation) + ": " +
                   r.info.reason);
      }
      if (r.info.state == "zombie") ++zombies;
      ++it;
    }
  }
  metrics->gauge("hive_plugin_zombies", "Replaced plugin generations that stay mapped")
      .set(static_cast<double>(zombies));
}

}  // namespace hive::host
