// Everything that triggers a live change of a running kernel, in one place:
// plugin files appearing in a watched plugin directory, the config file
// changing (its directory is watched: editors and Kubernetes replace files),
// SIGHUP, and commands on the control socket. Changes run one at a time.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "host/catalog.hpp"
#include "host/config/expand.hpp"
#include "host/control_socket.hpp"
#include "host/directory_watcher.hpp"
#include "host/plugin_host.hpp"

namespace hive::host {

class ReloadController {
 public:
  struct Options {
    std::vector<std::string> configFiles;  // the layers, re-read together; none: no config reload
    std::chrono::milliseconds settle{200};
    bool watchFiles = true;
  };

  ReloadController(PluginHost& host, Options options, Logger& log);
  ~ReloadController();

  // Starts the file watchers and, when configured, the control socket.
  Status start();
  void stop();

  // SIGHUP: re-read the config and rescan the plugin directories.
  Status reloadConfig();
  // Swaps `name` to the newest file of its range, or reloads its file (control
  // socket `plugins reload NAME`, POST /api/v2/admin/plugins/NAME/reload).
  Status reloadPlugin(const std::string& name);
  // Swaps every started plugin whose best file in the plugin directories is
  // not the one it runs.
  Status rescanPlugins();
  // Swaps `name` to the best file for its range when that is not what runs.
  Status rescanPlugin(const std::string& name);
  // A settled file in a plugin directory.
  void pluginFileChanged(const std::string& path);

 private:
  PluginHost& host_;
  Options options_;
  Logger& log_;
  std::recursive_mutex mutex_;  // one change at a time
  std::unique_ptr<DirectoryWatcher> pluginWatcher_;
  std::unique_ptr<DirectoryWatcher> configWatcher_;
  std::unique_ptr<ControlServer> control_;

  Status rescanPlugin(const std::string& name, const Catalog& catalog);
};

}  // namespace hive::host
