// The `hive` commands that work on a config and the kernel itself: run,
// check-config, plugins list, config show, version, and the clients of a
// running kernel's control socket (plugins status|reload|rescan, config
// reload). Each prints its answer on stdout and its errors on stderr, and
// returns the process exit code.
#pragma once

#include <string>
#include <vector>

namespace hive::tools {

// The config files of a command: `-c` repeated layers them, later over earlier.
using ConfigFiles = std::vector<std::string>;

struct RunOptions {
  ConfigFiles configFiles;
  std::string logFormat;  // "text", "json" or empty: the config's
  std::string logLevel;   // empty: the config's
};

// `hive run`: the kernel (host/kernel_process.hpp) on the config with the
// command line's overrides. 1 for a bad config, 2 for a bad override.
int runCommand(const RunOptions& options);

// `hive check-config`: loads and configures every plugin, starts nothing.
int checkConfigCommand(const ConfigFiles& files);

// `hive plugins list`: the manifests in `directories` (default: the config's),
// after what a hive running on the config runs, when one does.
int pluginsListCommand(std::vector<std::string> directories, const ConfigFiles& files);

// Sends `command` to the control socket `socket`, or else the one the config
// names, and prints the reply.
int controlCommand(const ConfigFiles& files, const std::string& socket, const std::string& command);

// `hive config show`: the layers merged, as YAML, each value followed by where it came from.
int configShowCommand(const ConfigFiles& files);

// `hive dashboard`: prints the dashboard's link with the api's local token
// (http://127.0.0.1:PORT/dashboard/#token=...), read from the data directory.
int dashboardCommand(const ConfigFiles& files);

// `hive version`.
int versionCommand();

}  // namespace hive::tools
