#include "host/plugin_host.hpp"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "hive/plugin.hpp"
#include "host/catalog.hpp"
#include "host/logging.hpp"
#include "host/metrics.hpp"
#include "host/plugin_context.hpp"
#include "host/plugin_library.hpp"
#include "host/runtime.hpp"
#include "host/semver.hpp"
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

namespace {

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

}  // namespace

// One loaded generation of a plugin: its library, context and object. The
// members are destroyed object first, library last.
struct PluginHost::Generation {
  std::uint64_t number = 0;
  PluginManifest manifest;  // from the loaded bytes
  std::shared_ptr<PluginLibrary> library;
  std::unique_ptr<KernelPluginContext> context;
  Plugin* plugin = nullptr;

  std::string owner() const { return manifest.name + "#" + std::to_string(number); }

  void destroy() {
    if (plugin != nullptr) library->destroyPlugin(plugin);
    plugin = nullptr;
    context.reset();  // drops the service view and its library pin
    library.reset();  // the library goes to the reaper once unpinned
  }
};

struct PluginHost::Instance {
  PluginStatus status;
  PluginEntry entry;   // as configured (a copy: a config reload replaces the config)
  ConfigNode section;  // the config section the running generation was configured with
  std::size_t order = 0;
  std::vector<std::string> dependsOn;  // plugins that must be started first
  Generation current;
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
  // Generations replaced by swaps, until their libraries are closed.
  struct Retiring {
    RetiredGeneration info;
    Generation generation;  // still holding the objects while draining/zombie
  };
  std::vector<Retiring> retiring;
  // Serialises load, start, stop, unload and reload.
  std::recursive_mutex lifecycle;
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
    metrics
        ->counter("hive_plugin_failures_total", "Plugin load, configure and start failures",
                  {{"plugin", instance.status.name}})
        .increment();
    setState(instance, PluginState::kFailed, std::move(reason));
  }

  // Loads `path` as a new generation of `instance` and configures it with
  // `section`; the view is a staging one for swaps. Diagnostics collect config
  // errors.
  Result<Generation> makeGeneration(const Instance& instance, const std::string& path,
                                    const ConfigNode& section, std::uint64_t number,
                                    PluginServiceView::Mode mode, Diagnostics& diagnostics) {
    Generation g;
    g.number = number;
    g.library = HIVE_TRY(PluginLibrary::load(path, HostAbi::current(), reaper));
    g.manifest = g.library->manifest();
    if (g.manifest.name != instance.status.name)
      return failedPrecondition(path + ": holds " + g.manifest.label() + ", not plugin '" +
                                instance.status.name + "'");
    std::string dataDirectory = (fs::path(config.dataDirectory) / g.manifest.name).string();
    std::error_code created;
    fs::create_directories(dataDirectory, created);
    if (created)
      return unavailable(g.manifest.label() + ": cannot create its data directory " + dataDirectory + ": " +
                         created.message());
    auto view = std::make_unique<PluginServiceView>(directory, g.library->manifest(), instance.order,
                                                    g.library, g.owner(), mode);
    g.context = std::make_unique<KernelPluginContext>(
        g.library->manifest(), logs.logger(g.manifest.name, instance.entry.logLevel), section,
        std::move(view), *runtime, *metrics, dataDirectory);
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

  // After stop(), handlers the plugin cancelled may still be queued, holding
  // its objects: wait for drained() before anything is destroyed. False when
  // the deadline passed (the caller must then keep the objects).
  bool waitDrained(Plugin* plugin, const std::string& label) {
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

  // Destroys a generation's objects while every kernel thread is parked.
  void destroyParked(Generation& g) {
    if (!runtimeStarted || !runtime->quiesce(std::chrono::seconds(10), [&] { g.destroy(); })) g.destroy();
  }
};

PluginHost::PluginHost(KernelConfig config, LogSystem& logs)
    : state_(std::make_unique<State>(std::move(config), logs)) {}

PluginHost::~PluginHost() { stop(); }

Status PluginHost::load(Diagnostics& diagnostics) {
  State& s = *state_;
  std::lock_guard lifecycle(s.lifecycle);
  const HostAbi host = HostAbi::current();
  Catalog catalog = scanPluginDirectories(s.config.pluginDirectories, host);
  for (const auto& refusal : catalog.refusals) s.log->warn("plugin file refused: " + refusal);

  std::vector<EnabledPlugin> enabled;
  for (const auto& entry : s.config.plugins)
    if (entry.enabled) enabled.push_back({entry.name, entry.versionRange, entry.required, entry.location});
  Resolution resolution = resolvePlugins(catalog, enabled);

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

  for (auto& instance : s.instances) {
    if (instance->status.state == PluginState::kFailed) continue;
    auto begin = Clock::now();
    auto generation = s.makeGeneration(*instance, instance->status.path, instance->section, 1,
                                       PluginServiceView::Mode::kLive, diagnostics);
    instance->status.loadTime = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - begin);
    if (!generation.ok()) {
      s.fail(*instance, generation.status().message());
      failDependents(instance->status.name);
      continue;
    }
    instance->current = std::move(generation).value();
    if (instance->current.manifest.version != instance->status.version) {
      instance->current.destroy();
      s.fail(*instance, instance->status.path + ": file changed while loading");
      failDependents(instance->status.name);
      continue;
    }
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
      if (other->status.state == PluginState::kStarted) stopInstance(*other);
      state_->destroyParked(other->current);
    }
    state_->fail(*other, "plugin '" + other->status.name + "' not started: it depends on '" + failed +
                             "', which failed");
    failDependents(other->status.name);
  }
}

Status PluginHost::start() {
  State& s = *state_;
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
      stopInstance(*instance);
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

void PluginHost::stopInstance(Instance& instance) {
  Plugin* plugin = instance.current.plugin;
  Status stopped = guarded("stop()", [&] {
    plugin->stop();
    return okStatus();
  });
  if (!stopped.ok()) state_->log->error(instance.current.manifest.label() + ": " + stopped.message());
  state_->directory.withdrawAll(instance.status.name);
  state_->directory.cancelWatches(instance.current.owner());
  if (!state_->waitDrained(plugin, instance.current.manifest.label()))
    keepAsZombie(instance.current, "did not drain after stop()");
}

void PluginHost::destroyInstance(Instance& instance) {
  instance.current.destroy();
  if (instance.status.state != PluginState::kFailed) state_->setState(instance, PluginState::kUnloaded);
}

void PluginHost::stop() {
  State& s = *state_;
  std::lock_guard lifecycle(s.lifecycle);
  for (auto it = s.instances.rbegin(); it != s.instances.rend(); ++it) {
    Instance& instance = **it;
    if (instance.status.state != PluginState::kStarted) continue;
    stopInstance(instance);
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
  for (auto it = s.instances.rbegin(); it != s.instances.rend(); ++it) destroyInstance(**it);
  for (auto& r : s.retiring) r.generation.destroy();
  s.retiring.clear();
  s.runtime.reset();
  s.reaper.reap();
}

Status PluginHost::unload(const std::string& name) {
  State& s = *state_;
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
  std::lock_guard lifecycle(s.lifecycle);
  std::vector<std::string> closed;
  if (s.reaper.pending() > 0) {
    if (!s.runtimeStarted) {
      closed = s.reaper.reap();
    } else if (!s.runtime->quiesce(std::chrono::seconds(10), [&] { closed = s.reaper.reap(); })) {
      s.log->error("kernel threads did not park within 10s; released libraries stay mapped for now");
    }
  }
  updateRetired(closed);
  return closed;
}

// One member of a swap: a running plugin and the generation that replaces it.
struct PluginHost::SwapPlan {
  Instance* instance = nullptr;
  std::string path;
  ConfigNode section;
  Generation next;
};

Status PluginHost::checkSwapSet(const std::vector<PlannedChange>& changes, std::string& blocker) const {
  auto planFor = [&](const std::string& name) -> const PlannedChange* {
    for (const auto& p : changes)
      if (p.instance->status.name == name) return &p;
    return nullptr;
  };
  auto versionAfter = [&](const Instance& i) {
    const PlannedChange* p = planFor(i.status.name);
    return p ? p->next->version : i.status.version;
  };
  auto providesAfter = [&](const Instance& i) -> const std::vector<ServiceKey>& {
    const PlannedChange* p = planFor(i.status.name);
    return p ? p->next->provides : i.current.manifest.provides;
  };
  auto providedAfter = [&](const ServiceKey& wanted) {
    for (const auto& other : state_->instances) {
      if (other->status.state != PluginState::kStarted) continue;
      const auto& offers = providesAfter(*other);
      if (std::find(offers.begin(), offers.end(), wanted) != offers.end()) return true;
    }
    return false;
  };
  auto accepts = [](const std::string& rangeText, const std::string& versionText) {
    auto range = VersionRange::parse(rangeText);
    auto version = Version::parse(versionText);
    return range.ok() && version.ok() && range->contains(*version);
  };
  // Running plugins outside the set must accept what the set becomes.
  for (const auto& other : state_->instances) {
    if (other->status.state != PluginState::kStarted || planFor(other->status.name)) continue;
    const PluginManifest& m = other->current.manifest;
    for (const auto& dependency : m.dependencies) {
      const PlannedChange* p = planFor(dependency.name);
      if (p && !accepts(dependency.range, p->next->version)) {
        blocker = other->status.name;
        return failedPrecondition(p->next->label() + ": running " + m.label() + " needs '" + dependency.name +
                                  "' " + dependency.range);
      }
    }
    for (const auto& wanted : m.requiredServices)
      if (!providedAfter(wanted)) {
        blocker = other->status.name;
        return failedPrecondition("running " + m.label() + " requires " + wanted.toString() +
                                  ", which the new generations no longer provide");
      }
  }
  // And every new generation must find what it needs.
  for (const auto& p : changes) {
    for (const auto& dependency : p.next->dependencies) {
      const Instance* provider = nullptr;
      for (const auto& other : state_->instances)
        if (other->status.name == dependency.name && other->status.state == PluginState::kStarted)
          provider = other.get();
      if (!provider || !accepts(dependency.range, versionAfter(*provider)))
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

Status PluginHost::reload(const std::string& name, const std::string& requestedPath,
                          const ConfigNode* section) {
  State& s = *state_;
  std::lock_guard lifecycle(s.lifecycle);
  auto begin = Clock::now();
  Instance* instance = s.find(name);
  if (instance == nullptr) return notFound("no plugin named '" + name + "'");
  if (instance->status.state != PluginState::kStarted)
    return failedPrecondition("plugin '" + name + "' is " +
                              std::string(pluginStateName(instance->status.state)) +
                              ", not started; only a running plugin can be swapped");
  auto outcome = [&](const std::string& pluginName, const std::string& result) {
    s.metrics
        ->counter("hive_plugin_reloads_total", "Plugin hot swaps by result",
                  {{"plugin", pluginName}, {"result", result}})
        .increment();
  };
  std::vector<SwapPlan> plans;
  auto rollback = [&](Status why) {
    for (auto& p : plans) {
      if (p.next.plugin == nullptr) continue;
      s.directory.cancelWatches(p.next.owner());
      if (s.waitDrained(p.next.plugin, p.next.manifest.label()))
        s.destroyParked(p.next);
      else
        keepAsZombie(p.next, "failed generation did not drain after stop()");
    }
    std::string reason = "reload of '" + name + "' failed: " + why.message() + "; generation " +
                         std::to_string(instance->current.number) + " keeps serving";
    s.log->error(reason);
    {
      std::lock_guard lock(s.statusMutex);
      instance->status.lastReloadError = reason;
    }
    outcome(name, "rolled_back");
    return Status(why.code(), reason);
  };

  // Reading every plugin file costs time under load: only when a file must be chosen.
  std::optional<Catalog> scanned;
  auto catalog = [&]() -> const Catalog& {
    if (!scanned) scanned = scanPluginDirectories(s.config.pluginDirectories, HostAbi::current());
    return *scanned;
  };
  std::string path = requestedPath;
  if (path.empty()) {
    auto file = selectVersion(catalog(), {name, instance->entry.versionRange, instance->entry.required, {}});
    if (!file.ok()) {
      std::string why = file.status().message();
      for (const auto& refusal : catalog().refusals)
        if (refusal.find("'" + name + "'") != std::string::npos) why += "; refused: " + refusal;
      return rollback(Status(file.status().code(), why));
    }
    path = (*file)->path;
  }

  auto plan = [&](Instance& member, const std::string& file, const ConfigNode& memberSection) -> Status {
    Diagnostics diagnostics;
    auto made = s.makeGeneration(member, file, memberSection, member.current.number + 1,
                                 PluginServiceView::Mode::kStaging, diagnostics);
    if (!made.ok()) {
      Status why = made.status();
      if (diagnostics.hasErrors())
        why = why.withContext("").withContext(diagnostics.items().front().toString());
      return why;
    }
    plans.push_back({&member, file, memberSection, std::move(made).value()});
    return okStatus();
  };
  if (Status planned = plan(*instance, path, section ? *section : instance->section); !planned.ok())
    return rollback(planned);

  // A new version that a running consumer does not accept is swapped together
  // with that consumer, when a file of the consumer that accepts it is there.
  for (;;) {
    std::vector<PlannedChange> changes;
    for (const auto& p : plans) changes.push_back({p.instance, &p.next.manifest});
    std::string blocker;
    Status fits = checkSwapSet(changes, blocker);
    if (fits.ok()) break;
    Instance* consumer = blocker.empty() ? nullptr : s.find(blocker);
    if (consumer == nullptr) return rollback(fits);
    auto file =
        selectVersion(catalog(), {blocker, consumer->entry.versionRange, consumer->entry.required, {}});
    if (!file.ok() || fileContentHash((*file)->path) == consumer->current.library->contentHash())
      return rollback(
          Status(fits.code(), fits.message() + "; no other file of '" + blocker +
                                  "' in the plugin directories could be swapped with it; reload it "
                                  "too, or keep a compatible version"));
    if (Status planned = plan(*consumer, (*file)->path, consumer->section); !planned.ok())
      return rollback(planned.withContext("swapping '" + blocker + "' along"));
    s.log->info("plugin '" + blocker + "' is swapped along with '" + name + "' to " +
                plans.back().next.manifest.version);
  }
  std::sort(plans.begin(), plans.end(),
            [](const SwapPlan& a, const SwapPlan& b) { return a.instance->order < b.instance->order; });

  // Switch-over: hold new calls back, let in-flight ones finish, then move the
  // state across, providers first. The old generations keep their state until
  // the switch, so a failure from here on resumes them untouched.
  for (const auto& p : plans) s.directory.gate(p.instance->status.name);
  auto ungateAll = [&] {
    for (const auto& p : plans) s.directory.ungate(p.instance->status.name);
  };
  Status started;
  for (const auto& p : plans) {
    std::size_t held =
        s.directory.waitForLeases(p.instance->status.name, Clock::now() + s.config.drainDeadline);
    if (held > 0) {
      started = deadlineExceeded(std::to_string(held) + " leases of '" + p.instance->status.name +
                                 "' generation " + std::to_string(p.instance->current.number) +
                                 " still held after the drain deadline");
      break;
    }
  }
  std::size_t startedCount = 0;
  for (auto& p : plans) {
    if (!started.ok()) break;
    Plugin* old = p.instance->current.plugin;
    Result<Handoff> handoff = internalError("not taken");
    (void)guarded("handoff()", [&] {
      handoff = old->handoff();
      return okStatus();
    });
    Plugin* fresh = p.next.plugin;
    if (handoff.ok()) {
      std::uint32_t stateVersion = handoff->stateVersion;
      started = guarded("startFrom()", [&] { return fresh->startFrom(std::move(handoff).value()); });
      if (started.code() == StatusCode::kFailedPrecondition) {
        s.log->warn(p.next.manifest.label() + " starts from nothing: it does not take state version " +
                    std::to_string(stateVersion) + " (" + started.message() + ")");
        started = guarded("start()", [&] { return fresh->start(); });
      }
    } else {
      started = guarded("start()", [&] { return fresh->start(); });
    }
    ++startedCount;  // stop() is owed even after a failed start
    if (started.ok())
      started = guarded("health()", [&] { return fresh->health(); }).withContext("health check");
    if (!started.ok()) started = started.withContext(p.next.manifest.label());
  }
  if (!started.ok()) {
    for (std::size_t i = startedCount; i-- > 0;) {
      Plugin* fresh = plans[i].next.plugin;
      (void)guarded("stop()", [&] {
        fresh->stop();
        return okStatus();
      });
    }
    ungateAll();
    return rollback(started);
  }

  std::vector<std::unique_ptr<Instance>> replaced;
  for (auto& p : plans) {
    Instance& member = *p.instance;
    const std::string& memberName = member.status.name;
    s.directory.replace(memberName, member.order, p.next.context->serviceView().takeStaged());
    auto retired = std::make_unique<Instance>();
    retired->status = member.status;
    retired->current = std::exchange(member.current, std::move(p.next));
    {
      std::lock_guard lock(s.statusMutex);
      member.section = p.section;
      member.status.version = member.current.manifest.version;
      member.status.path = p.path;
      member.status.generation = member.current.number;
      member.status.reloads += 1;
      member.status.lastReloadError.clear();
    }
    s.metrics
        ->gauge("hive_plugin_generation", "Generation serving, 1 + successful swaps",
                {{"plugin", memberName}})
        .set(static_cast<double>(member.current.number));
    outcome(memberName, "swapped");
    s.log->info("plugin '" + memberName + "' swapped to " + member.current.manifest.version +
                " (generation " + std::to_string(member.current.number) + ")");
    replaced.push_back(std::move(retired));
  }
  s.metrics->histogram("hive_plugin_swap_seconds", "Hot swap time, trigger to new generation serving")
      .observe(std::chrono::duration<double>(Clock::now() - begin).count());
  plans.clear();
  // Consumers' old generations drain first: they may still call their providers.
  for (auto it = replaced.rbegin(); it != replaced.rend(); ++it) retire(std::move(*it));
  return okStatus();
}

namespace {

bool sameConfig(const ConfigNode& a, const ConfigNode& b) {
  if (a.kind() != b.kind() || a.text() != b.text() || a.items().size() != b.items().size() ||
      a.entries().size() != b.entries().size())
    return false;
  for (std::size_t i = 0; i < a.items().size(); ++i)
    if (!sameConfig(a.items()[i], b.items()[i])) return false;
  for (std::size_t i = 0; i < a.entries().size(); ++i)
    if (a.entries()[i].key != b.entries()[i].key || !sameConfig(a.entries()[i].value, b.entries()[i].value))
      return false;
  return true;
}

}  // namespace

Status PluginHost::applyConfig(KernelConfig next, Diagnostics& diagnostics) {
  State& s = *state_;
  std::lock_guard lifecycle(s.lifecycle);
  const KernelConfig& now = s.config;
  auto restartOnly = [&](bool changed, const char* key) {
    if (changed)
      diagnostics.warning({next.sourceFile, 0, 0}, std::string("hive.") + key + " changes at the next start");
  };
  restartOnly(next.pluginDirectories != now.pluginDirectories, "plugin_dirs");
  restartOnly(next.ioThreads != now.ioThreads, "io_threads");
  restartOnly(next.blockingThreads != now.blockingThreads, "blocking_threads");
  restartOnly(next.dataDirectory != now.dataDirectory, "data_dir");
  restartOnly(next.controlSocket != now.controlSocket, "control_socket");

  // Plan. Swaps and reconfigurations are undone in reverse on a failure.
  struct Undo {
    std::string name;
    enum class Kind { kReconfigured, kSwapped } kind;
    ConfigNode section;
    std::string path;
    PluginEntry entry;
  };
  std::vector<Undo> done;
  auto rollback = [&](Status why) {
    for (auto it = done.rbegin(); it != done.rend(); ++it) {
      Instance* instance = s.find(it->name);
      if (instance == nullptr) continue;
      Status undone;
      if (it->kind == Undo::Kind::kReconfigured) {
        Diagnostics ignored;
        Plugin* plugin = instance->current.plugin;
        undone = guarded("reconfigure()", [&] { return plugin->reconfigure(it->section, ignored); });
        if (undone.ok()) instance->section = it->section;
      } else {
        undone = reload(it->name, it->path, &it->section);
      }
      instance->entry = it->entry;
      if (!undone.ok()) s.log->error("config rollback of '" + it->name + "' failed: " + undone.message());
    }
    s.log->error("config reload rejected: " + why.message() + "; the running configuration stays");
    return why;
  };

  for (const auto& entry : next.plugins) {
    Instance* instance = s.find(entry.name);
    if (instance == nullptr || instance->status.state != PluginState::kStarted || !entry.enabled) continue;
    Undo undo{entry.name, Undo::Kind::kReconfigured, instance->section, instance->status.path,
              instance->entry};
    Catalog catalog = scanPluginDirectories(next.pluginDirectories, HostAbi::current());
    auto file = selectVersion(catalog, {entry.name, entry.versionRange, entry.required, entry.location});
    if (!file.ok()) return rollback(file.status().withContext("plugin '" + entry.name + "'"));
    bool otherFile = (*file)->manifest.version != instance->status.version;
    bool otherSection = !sameConfig(entry.config, instance->section);
    if (!otherFile && !otherSection) {
      instance->entry = entry;
      continue;
    }
    if (!otherFile) {
      Diagnostics pluginDiagnostics;
      Plugin* plugin = instance->current.plugin;
      Status reconfigured =
          guarded("reconfigure()", [&] { return plugin->reconfigure(entry.config, pluginDiagnostics); });
      diagnostics.append(pluginDiagnostics);
      if (reconfigured.ok() && !pluginDiagnostics.hasErrors()) {
        instance->section = entry.config;
        instance->entry = entry;
        done.push_back(std::move(undo));
        continue;
      }
      if (reconfigured.code() != StatusCode::kUnimplemented || pluginDiagnostics.hasErrors())
        return rollback(
            Status(StatusCode::kInvalidArgument,
                   "plugin '" + entry.name + "' rejected its new section: " +
                       (pluginDiagnostics.hasErrors() ? pluginDiagnostics.items().front().toString()
                                                      : reconfigured.message())));
    }
    // A new version, or a section the plugin cannot take live: swap.
    Status swapped = reload(entry.name, (*file)->path, &entry.config);
    if (!swapped.ok()) return rollback(swapped);
    instance->entry = entry;
    undo.kind = Undo::Kind::kSwapped;
    done.push_back(std::move(undo));
  }

  // Disabled or removed plugins stop, dependents first.
  for (auto it = s.instances.rbegin(); it != s.instances.rend(); ++it) {
    Instance& instance = **it;
    if (instance.status.state != PluginState::kStarted) continue;
    bool kept = std::any_of(next.plugins.begin(), next.plugins.end(), [&](const PluginEntry& e) {
      return e.name == instance.status.name && e.enabled;
    });
    if (!kept) {
      Status unloaded = unload(instance.status.name);
      if (!unloaded.ok()) s.log->error(unloaded.message());
    }
  }

  // Newly enabled plugins load and start after everything they need: in
  // passes, each starting those whose dependencies and required services run.
  Catalog catalog = scanPluginDirectories(next.pluginDirectories, HostAbi::current());
  std::vector<std::pair<const PluginEntry*, const PluginFile*>> pending;
  for (const auto& entry : next.plugins) {
    if (!entry.enabled) continue;
    Instance* existing = s.find(entry.name);
    if (existing != nullptr && existing->status.state == PluginState::kStarted) continue;
    auto file = selectVersion(catalog, {entry.name, entry.versionRange, entry.required, entry.location});
    if (!file.ok()) {
      diagnostics.warning(entry.location, file.status().message() + "; running without it");
      continue;
    }
    pending.emplace_back(&entry, *file);
  }
  auto running = [&](const std::string& name) {
    const Instance* i = s.find(name);
    return i != nullptr && i->status.state == PluginState::kStarted;
  };
  auto provided = [&](const ServiceKey& wanted) {
    return std::any_of(s.instances.begin(), s.instances.end(), [&](const auto& i) {
      const auto& offers = i->current.manifest.provides;
      return i->status.state == PluginState::kStarted &&
             std::find(offers.begin(), offers.end(), wanted) != offers.end();
    });
  };
  for (bool progress = true; progress && !pending.empty();) {
    progress = false;
    for (auto it = pending.begin(); it != pending.end();) {
      const PluginEntry& entry = *it->first;
      const PluginFile& file = *it->second;
      bool ready =
          std::all_of(file.manifest.dependencies.begin(), file.manifest.dependencies.end(),
                      [&](const auto& d) { return running(d.name); }) &&
          std::all_of(file.manifest.requiredServices.begin(), file.manifest.requiredServices.end(), provided);
      if (!ready) {
        ++it;
        continue;
      }
      it = pending.erase(it);
      progress = true;
      Instance* existing = s.find(entry.name);
      auto instance = std::make_unique<Instance>();
      instance->entry = entry;
      instance->section = entry.config;
      instance->order = s.instances.size();
      instance->status = {entry.name, file.manifest.version, file.path, PluginState::kDiscovered,
                          entry.required};
      for (const auto& d : file.manifest.dependencies) instance->dependsOn.push_back(d.name);
      std::string blocker;
      Status compatible = checkSwapSet({{instance.get(), &file.manifest}}, blocker);
      Result<Generation> made = compatible.ok()
                                    ? s.makeGeneration(*instance, file.path, entry.config, 1,
                                                       PluginServiceView::Mode::kLive, diagnostics)
                                    : Result<Generation>(compatible);
      Status started = made.ok() ? guarded("start()", [&] { return made->plugin->start(); }) : made.status();
      if (!started.ok()) {
        if (made.ok()) {
          Generation& g = *made;
          (void)guarded("stop()", [&] {
            g.plugin->stop();
            return okStatus();
          });
          s.directory.withdrawAll(entry.name);
          s.directory.cancelWatches(g.owner());
          if (s.waitDrained(g.plugin, g.manifest.label()))
            s.destroyParked(g);
          else
            keepAsZombie(g, "did not drain after a failed start");
        }
        diagnostics.warning(entry.location, "plugin '" + entry.name + "' not started: " + started.message());
        continue;
      }
      instance->current = std::move(made).value();
      instance->status.generation = 1;
      s.setState(*instance, PluginState::kStarted);
      s.log->info(instance->current.manifest.label() + " started by config reload");
      if (existing != nullptr) std::erase_if(s.instances, [&](const auto& i) { return i.get() == existing; });
      s.instances.push_back(std::move(instance));
    }
  }
  for (const auto& [entry, file] : pending)
    diagnostics.warning(entry->location, "plugin '" + entry->name +
                                             "' not started: a dependency or required service " + "of " +
                                             file->manifest.label() + " is not running");

  s.logs.setDefaultLevel(next.logLevel);
  KernelConfig kept = std::move(next);
  // Settings that need a restart keep their running values.
  kept.pluginDirectories = now.pluginDirectories;
  kept.ioThreads = now.ioThreads;
  kept.blockingThreads = now.blockingThreads;
  kept.dataDirectory = now.dataDirectory;
  kept.controlSocket = now.controlSocket;
  s.config = std::move(kept);
  reapLibraries();
  return okStatus();
}

void PluginHost::retire(std::unique_ptr<Instance> old) {
  State& s = *state_;
  Generation& g = old->current;
  RetiredGeneration info{old->status.name,       g.manifest.version, g.number,
                         g.library->imageName(), "draining",         {}};
  Plugin* plugin = g.plugin;
  g.context->serviceView().retire();
  (void)guarded("beginDrain()", [&] {
    plugin->beginDrain();
    return okStatus();
  });
  auto deadline = Clock::now() + s.config.drainDeadline;
  bool drained = false;
  for (auto pause = std::chrono::microseconds(50);;
       pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(5))) {
    Status asked = guarded("drained()", [&] {
      drained = plugin->drained();
      return okStatus();
    });
    if (!asked.ok()) {
      s.log->error(info.name + ": " + asked.message());
      drained = false;
      break;
    }
    if (drained || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(pause);
  }
  if (!drained) {
    // Destroying objects with work in flight would crash: keep them, and say so.
    info.state = "zombie";
    info.reason = "drain deadline of " + std::to_string(s.config.drainDeadline.count()) + " ms passed";
    s.log->error("plugin '" + info.name + "' generation " + std::to_string(info.generation) + ": " +
                 info.reason + "; it stays mapped");
    s.retiring.push_back({std::move(info), std::move(g)});
    updateRetired({});
    return;
  }
  (void)guarded("stop()", [&] {
    plugin->stop();
    return okStatus();
  });
  s.directory.cancelWatches(g.owner());
  s.destroyParked(g);
  info.state = "pinned";
  s.retiring.push_back({std::move(info), Generation{}});
  // The library closes now unless a lease still pins it; then later, from
  // reapLibraries().
  reapLibraries();
}

void PluginHost::keepAsZombie(Generation& generation, const std::string& reason) {
  State& s = *state_;
  if (generation.plugin == nullptr) return;
  RetiredGeneration info{generation.manifest.name,
                         generation.manifest.version,
                         generation.number,
                         generation.library ? generation.library->imageName() : "",
                         "zombie",
                         reason};
  s.log->error(generation.manifest.label() + " generation " + std::to_string(generation.number) + ": " +
               reason + "; it stays mapped");
  s.retiring.push_back({std::move(info), std::move(generation)});
  generation = Generation{};
}

void PluginHost::updateRetired(const std::vector<std::string>& closed) {
  State& s = *state_;
  std::size_t zombies = 0;
  {
    std::lock_guard lock(s.statusMutex);
    for (auto it = s.retiring.begin(); it != s.retiring.end();) {
      auto& r = *it;
      bool wasClosed = std::find(closed.begin(), closed.end(), r.info.imageName) != closed.end();
      if (r.info.state == "pinned" && wasClosed) {
        if (!isImageMapped(r.info.imageName)) {
          it = s.retiring.erase(it);  // closed and unmapped: gone for good
          continue;
        }
        r.info.state = "zombie";
        r.info.reason = "still mapped after dlclose (a STB_GNU_UNIQUE symbol or a thread_local keeps it)";
        s.log->error("plugin '" + r.info.name + "' generation " + std::to_string(r.info.generation) + ": " +
                     r.info.reason);
      }
      if (r.info.state == "zombie") ++zombies;
      ++it;
    }
  }
  s.metrics->gauge("hive_plugin_zombies", "Replaced plugin generations that stay mapped")
      .set(static_cast<double>(zombies));
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
