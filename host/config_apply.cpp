#include "host/config_apply.hpp"

#include <algorithm>

#include "hive/plugin.hpp"
#include "host/catalog.hpp"
#include "host/host_state.hpp"
#include "host/swap.hpp"

namespace hive::host {
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

enum class Change { kEntryOnly, kReconfigure, kSwap };

// What one running plugin's new entry asks for.
struct Step {
  const PluginEntry* entry;
  Instance* instance;
  Change change;
  const PluginFile* file;  // the file to swap to, read by the diff's scan
};

// How to put a plugin back as it ran before a step.
struct Undo {
  std::string name;
  Change change;
  ConfigNode section;
  std::string path;
  PluginEntry entry;
};

class ConfigApply {
 public:
  ConfigApply(PluginHost& host, HostState& state, KernelConfig& next, Diagnostics& diagnostics)
      : host_(host),
        s_(state),
        next_(next),
        diagnostics_(diagnostics),
        catalog_(scanPluginDirectories(next.pluginDirectories, HostAbi::current())) {}

  Status run() {
    warnRestartOnly();
    std::vector<Step> steps;
    if (Status diffed = diff(steps); !diffed.ok()) return rollback(diffed);
    for (const Step& step : steps)
      if (Status applied = apply(step); !applied.ok()) return rollback(applied);
    stopDisabled();
    startEnabled();
    return okStatus();
  }

 private:
  void warnRestartOnly() {
    const KernelConfig& now = s_.config;
    auto restartOnly = [&](bool changed, const char* key) {
      if (changed)
        diagnostics_.warning({next_.sourceFile, 0, 0},
                             std::string("hive.") + key + " changes at the next start");
    };
    restartOnly(next_.pluginDirectories != now.pluginDirectories, "plugin_dirs");
    restartOnly(next_.ioThreads != now.ioThreads, "io_threads");
    restartOnly(next_.blockingThreads != now.blockingThreads, "blocking_threads");
    restartOnly(next_.dataDirectory != now.dataDirectory, "data_dir");
    restartOnly(next_.controlSocket != now.controlSocket, "control_socket");
    restartOnly(next_.pluginTrust != now.pluginTrust, "require_signed_plugins/trusted_keys");
  }

  Status diff(std::vector<Step>& steps) {
    for (const auto& entry : next_.plugins) {
      Instance* instance = s_.find(entry.name);
      if (instance == nullptr || instance->status.state != PluginState::kStarted || !entry.enabled) continue;
      auto file = selectVersion(catalog_, {entry.name, entry.versionRange, entry.required, entry.location});
      if (!file.ok()) return file.status().withContext("plugin '" + entry.name + "'");
      Change change = (*file)->manifest.version != instance->status.version ? Change::kSwap
                      : !sameConfig(entry.config, instance->section)        ? Change::kReconfigure
                                                                            : Change::kEntryOnly;
      steps.push_back({&entry, instance, change, *file});
    }
    return okStatus();
  }

  Status apply(const Step& step) {
    Instance& instance = *step.instance;
    const PluginEntry& entry = *step.entry;
    Undo undo{entry.name, step.change, instance.section, instance.status.path, instance.entry};
    if (step.change == Change::kReconfigure) {
      Diagnostics pluginDiagnostics;
      Plugin* plugin = instance.current.plugin;
      Status reconfigured =
          guarded("reconfigure()", [&] { return plugin->reconfigure(entry.config, pluginDiagnostics); });
      diagnostics_.append(pluginDiagnostics);
      if (reconfigured.ok() && !pluginDiagnostics.hasErrors()) {
        instance.section = entry.config;
        instance.entry = entry;
        done_.push_back(std::move(undo));
        return okStatus();
      }
      if (reconfigured.code() != StatusCode::kUnimplemented || pluginDiagnostics.hasErrors())
        return invalidArgument("plugin '" + entry.name + "' rejected its new section: " +
                               (pluginDiagnostics.hasErrors() ? pluginDiagnostics.items().front().toString()
                                                              : reconfigured.message()));
      undo.change = Change::kSwap;  // it cannot reconfigure live: swapped with its new section
    }
    if (undo.change == Change::kSwap)
      HIVE_TRY(swapPlugin(s_, entry.name, step.file->path, step.file, &entry.config));
    instance.entry = entry;
    if (undo.change != Change::kEntryOnly) done_.push_back(std::move(undo));
    return okStatus();
  }

  Status rollback(Status why) {
    for (auto it = done_.rbegin(); it != done_.rend(); ++it) {
      Instance* instance = s_.find(it->name);
      if (instance == nullptr) continue;
      Status undone;
      if (it->change == Change::kReconfigure) {
        Diagnostics ignored;
        Plugin* plugin = instance->current.plugin;
        undone = guarded("reconfigure()", [&] { return plugin->reconfigure(it->section, ignored); });
        if (undone.ok()) instance->section = it->section;
      } else {
        undone = swapPlugin(s_, it->name, it->path, nullptr, &it->section);
      }
      instance->entry = it->entry;
      if (!undone.ok()) s_.log->error("config rollback of '" + it->name + "' failed: " + undone.message());
    }
    s_.log->error("config reload rejected: " + why.message() + "; the running configuration stays");
    return why;
  }

  // Disabled or removed plugins stop, dependents first.
  void stopDisabled() {
    for (auto it = s_.instances.rbegin(); it != s_.instances.rend(); ++it) {
      Instance& instance = **it;
      if (instance.status.state != PluginState::kStarted) continue;
      bool kept = std::any_of(next_.plugins.begin(), next_.plugins.end(), [&](const PluginEntry& e) {
        return e.name == instance.status.name && e.enabled;
      });
      if (kept) continue;
      if (Status unloaded = host_.unload(instance.status.name); !unloaded.ok())
        s_.log->error(unloaded.message());
    }
  }

  // Newly enabled plugins load and start after everything they need: in
  // passes, each starting those whose dependencies and required services run.
  void startEnabled() {
    std::vector<std::pair<const PluginEntry*, const PluginFile*>> pending;
    for (const auto& entry : next_.plugins) {
      if (!entry.enabled || s_.running(entry.name)) continue;
      auto file = selectVersion(catalog_, {entry.name, entry.versionRange, entry.required, entry.location});
      if (!file.ok())
        diagnostics_.warning(entry.location, file.status().message() + "; running without it");
      else
        pending.emplace_back(&entry, *file);
    }
    auto ready = [&](const PluginManifest& m) {
      return std::all_of(m.dependencies.begin(), m.dependencies.end(),
                         [&](const auto& d) { return s_.running(d.name); }) &&
             std::all_of(m.requiredServices.begin(), m.requiredServices.end(),
                         [&](const ServiceKey& wanted) { return s_.provided(wanted); });
    };
    for (bool progress = true; progress && !pending.empty();) {
      progress = false;
      for (auto it = pending.begin(); it != pending.end();) {
        if (!ready(it->second->manifest)) {
          ++it;
          continue;
        }
        start(*it->first, *it->second);
        it = pending.erase(it);
        progress = true;
      }
    }
    for (const auto& [entry, file] : pending)
      diagnostics_.warning(entry->location, "plugin '" + entry->name +
                                                "' not started: a dependency or required service of " +
                                                file->manifest.label() + " is not running");
  }

  void start(const PluginEntry& entry, const PluginFile& file) {
    auto instance = std::make_unique<Instance>();
    instance->entry = entry;
    instance->section = entry.config;
    instance->order = s_.instances.size();
    instance->status = {entry.name, file.manifest.version, file.path, PluginState::kDiscovered,
                        entry.required};
    for (const auto& d : file.manifest.dependencies) instance->dependsOn.push_back(d.name);
    std::string blocker;
    Status compatible = s_.checkSwapSet({{instance.get(), &file.manifest}}, blocker);
    Result<Generation> made = compatible.ok()
                                  ? s_.makeGeneration(*instance, file, entry.config, 1,
                                                      PluginServiceView::Mode::kLive, diagnostics_)
                                  : Result<Generation>(compatible);
    Status started = made.ok() ? guarded("start()", [&] { return made->plugin->start(); }) : made.status();
    if (!started.ok()) {
      if (made.ok()) {
        Generation& g = *made;
        (void)guarded("stop()", [&] {
          g.plugin->stop();
          return okStatus();
        });
        s_.directory.withdrawAll(entry.name);
        s_.discard(g, "did not drain after a failed start");
      }
      diagnostics_.warning(entry.location, "plugin '" + entry.name + "' not started: " + started.message());
      return;
    }
    instance->current = std::move(made).value();
    instance->status.generation = 1;
    s_.setState(*instance, PluginState::kStarted);
    s_.log->info(instance->current.manifest.label() + " started by config reload");
    Instance* existing = s_.find(entry.name);
    if (existing != nullptr) std::erase_if(s_.instances, [&](const auto& i) { return i.get() == existing; });
    s_.instances.push_back(std::move(instance));
  }

  PluginHost& host_;
  HostState& s_;
  KernelConfig& next_;
  Diagnostics& diagnostics_;
  Catalog catalog_;
  std::vector<Undo> done_;
};

}  // namespace

Status applyKernelConfig(PluginHost& host, HostState& state, KernelConfig next, Diagnostics& diagnostics) {
  HIVE_TRY(ConfigApply(host, state, next, diagnostics).run());
  state.logs.setDefaultLevel(next.logLevel);
  // Settings that need a restart keep their running values.
  next.pluginDirectories = state.config.pluginDirectories;
  next.ioThreads = state.config.ioThreads;
  next.blockingThreads = state.config.blockingThreads;
  next.dataDirectory = state.config.dataDirectory;
  next.controlSocket = state.config.controlSocket;
  next.pluginTrust = state.config.pluginTrust;
  state.config = std::move(next);
  host.reapLibraries();
  return okStatus();
}

}  // namespace hive::host
