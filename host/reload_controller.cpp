#include "host/reload_controller.hpp"

#include <algorithm>
#include <filesystem>

#include "host/catalog.hpp"
#include "host/config/kernel_config.hpp"
#include "host/metrics.hpp"
#include "host/plugin_library.hpp"
#include "host/resolver.hpp"
#include "host/semver.hpp"

namespace hive::host {

namespace fs = std::filesystem;

ReloadController::ReloadController(PluginHost& host, Options options, Logger& log)
    : host_(host), options_(std::move(options)), log_(log) {}

ReloadController::~ReloadController() { stop(); }

Status ReloadController::start() {
  const KernelConfig& config = host_.config();
  if (options_.watchFiles) {
    pluginWatcher_ = std::make_unique<DirectoryWatcher>(
        config.pluginDirectories, options_.settle,
        [this](const std::string& path) { pluginFileChanged(path); }, log_);
    HIVE_TRY(pluginWatcher_->start(), "watching plugin directories");
    if (!options_.configFiles.empty()) {
      // A change to any layer re-reads them all.
      std::vector<std::string> directories;
      std::vector<fs::path> files;
      for (const auto& layer : options_.configFiles) {
        files.push_back(fs::absolute(layer).lexically_normal());
        std::string directory = files.back().parent_path().string();
        if (std::find(directories.begin(), directories.end(), directory) == directories.end())
          directories.push_back(directory);
      }
      configWatcher_ = std::make_unique<DirectoryWatcher>(
          directories, options_.settle,
          [this, files](const std::string& path) {
            if (std::find(files.begin(), files.end(), fs::path(path).lexically_normal()) != files.end())
              (void)reloadConfig();
          },
          log_);
      HIVE_TRY(configWatcher_->start(), "watching the config directories");
    }
  }
  if (!config.controlSocket.empty()) {
    control_ = std::make_unique<ControlServer>(
        config.controlSocket, [this](const std::string& line) { return controlCommand(host_, *this, line); },
        log_);
    HIVE_TRY(control_->start());
    log_.info("control socket listening on " + config.controlSocket);
  }
  return okStatus();
}

void ReloadController::stop() {
  if (control_) control_->stop();
  if (pluginWatcher_) pluginWatcher_->stop();
  if (configWatcher_) configWatcher_->stop();
}

void ReloadController::pluginFileChanged(const std::string& path) {
  if (fs::path(path).extension() != ".so") return;
  std::lock_guard lock(mutex_);
  // One scan reads every file once; the changed one is among them.
  Catalog catalog = scanPluginDirectories(host_.config().pluginDirectories, HostAbi::current());
  auto file = std::find_if(catalog.plugins.begin(), catalog.plugins.end(),
                           [&](const PluginFile& f) { return f.path == path; });
  if (file == catalog.plugins.end()) {
    auto refusal = std::find_if(catalog.refusals.begin(), catalog.refusals.end(),
                                [&](const std::string& r) { return r.rfind(path + ": ", 0) == 0; });
    log_.error("plugin file refused: " +
               (refusal != catalog.refusals.end() ? *refusal : path + ": not found in a plugin directory") +
               "; running plugins are unchanged");
    host_.metrics()
        .counter("hive_plugin_file_refusals_total", "Plugin files refused by the watcher")
        .increment();
    return;
  }
  // The file only says which plugin to look at: what runs is always the best
  // file in the plugin directories for the configured range, exactly as for a
  // rescan, so that dropping an older file in does not downgrade anything.
  (void)rescanPlugin(file->manifest.name, catalog);
}

Status ReloadController::rescanPlugin(const std::string& name) {
  std::lock_guard lock(mutex_);
  return rescanPlugin(name, scanPluginDirectories(host_.config().pluginDirectories, HostAbi::current()));
}

Status ReloadController::rescanPlugin(const std::string& name, const Catalog& catalog) {
  for (const auto& status : host_.status()) {
    if (status.name != name) continue;
    if (status.state != PluginState::kStarted) {
      log_.info("plugin '" + name + "' is not running; not swapping");
      return okStatus();
    }
    std::string range = "*";
    for (const auto& entry : host_.config().plugins)
      if (entry.name == name) range = entry.versionRange;
    auto file = selectVersion(catalog, {name, range, false, {}});
    if (!file.ok()) return file.status();
    if ((*file)->contentHash == host_.runningContentHash(name)) return okStatus();  // runs it already
    log_.info((*file)->path + ": " + (*file)->manifest.label() + " is the best file for '" + range +
              "'; swapping");
    return host_.reload(name, **file);  // a failure is logged and recorded by the host
  }
  return okStatus();
}

Status ReloadController::rescanPlugins() {
  std::lock_guard lock(mutex_);
  Catalog catalog = scanPluginDirectories(host_.config().pluginDirectories, HostAbi::current());
  Status result;
  for (const auto& status : host_.status()) {
    if (status.state != PluginState::kStarted) continue;
    if (Status swapped = rescanPlugin(status.name, catalog); !swapped.ok()) result = swapped;
  }
  return result;
}

Status ReloadController::reloadConfig() {
  std::lock_guard lock(mutex_);
  auto& metrics = host_.metrics();
  auto record = [&](const char* result, bool ok) {
    metrics.counter("hive_config_reloads_total", "Config reloads by result", {{"result", result}})
        .increment();
    metrics.gauge("hive_config_last_reload_successful", "1 when the last config reload was applied")
        .set(ok ? 1 : 0);
  };
  if (options_.configFiles.empty()) return failedPrecondition("no config file to reload");
  Diagnostics diagnostics;
  auto next = loadKernelConfig(options_.configFiles, diagnostics);
  for (const auto& d : diagnostics.items()) log_.error("config reload: " + d.toString());
  if (!next.ok()) {
    record("invalid", false);
    log_.error("config reload rejected: " + next.status().message() + "; the running configuration stays");
    return next.status().withContext("config reload rejected");
  }
  Diagnostics applyDiagnostics;
  Status applied = host_.applyConfig(std::move(next).value(), applyDiagnostics);
  for (const auto& d : applyDiagnostics.items())
    log_.log(d.severity == Severity::kError ? LogLevel::kError : LogLevel::kWarn,
             "config reload: " + d.toString());
  if (!applied.ok()) {
    record("rejected", false);
    return applied.withContext("config reload rejected");
  }
  record("applied", true);
  log_.info("config reloaded from " + layerNames(options_.configFiles));
  return okStatus();
}

Status ReloadController::reloadPlugin(const std::string& name) {
  std::lock_guard lock(mutex_);
  return host_.reload(name);
}

}  // namespace hive::host
