// The kernel's configuration file: the `hive:` section (kernel settings) and
// the `plugins:` section (which plugins run, which versions, their sections).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hive/config.hpp"
#include "hive/log.hpp"
#include "host/config/expand.hpp"
#include "host/plugin_signature.hpp"

namespace hive::host {

enum class LogFormat { kText, kJson };

struct PluginEntry {
  std::string name;
  bool enabled = true;
  std::string versionRange = "*";
  bool required = false;
  std::optional<LogLevel> logLevel;
  ConfigNode config;        // the plugin's own section; the plugin validates it
  SourceLocation location;  // of the plugin's key in the file
};

// The thread defaults, from the cores this process may run on: half of them
// for I/O (at least 1: on 2 cores one I/O thread leaves the other to the
// store's writer and the blocking pool), and 4 blocking threads per core
// within 8..64 (they mostly wait on storage, not on a core).
int usableCores();
int defaultIoThreads(int cores);
int defaultBlockingThreads(int cores);

// The shape of config files this Hive reads: a file says which it was written
// for with a top-level `version:` (absent: 1). A newer one is refused; an older
// one is rewritten by `hive config migrate FILE` (tools/config/migrate.hpp).
inline constexpr int kConfigVersion = 2;

struct KernelConfig {
  std::string sourceFile;                      // the first (or only) file
  std::vector<std::string> sourceFiles;        // every layer, in order
  std::vector<std::string> pluginDirectories;  // absolute
  int ioThreads = defaultIoThreads(usableCores());
  int blockingThreads = defaultBlockingThreads(usableCores());
  LogLevel logLevel = LogLevel::kInfo;
  LogFormat logFormat = LogFormat::kText;
  std::chrono::milliseconds drainDeadline{10'000};
  std::chrono::milliseconds startTimeout{120'000};  // start-up as a whole; Hive exits past it
  std::chrono::milliseconds watchdogPeriod{
      10'000};                       // a watched thread busy this long without progress is stalled
  std::string dataDirectory;         // absolute
  std::string controlSocket;         // absolute, or empty when disabled
  PluginTrust pluginTrust;           // require_signed_plugins, trusted_keys (a restart applies changes)
  std::vector<PluginEntry> plugins;  // in file order
};

// trace | debug | info | warn | error | critical | off (the CLI's --log-level too).
Result<LogLevel> parseLogLevel(std::string_view text);

// Parses, expands ${VAR}, and validates the whole file. Every error goes to
// `diagnostics` as file:line:col, all of them, not just the first; the Result
// is then "<n> error(s) in <path>" (InvalidArgument; NotFound or
// PermissionDenied when the file cannot be read). Relative paths are resolved
// against the directory of the file. Never throws.
Result<KernelConfig> loadKernelConfig(const std::string& path, Diagnostics& diagnostics,
                                      const EnvironmentLookup& lookup = processEnvironment);

// Layered files, later ones overriding earlier ones (`hive run -c base.yaml -c
// production.yaml`): maps merge key by key, any other value (a list included)
// replaces the earlier one, and every value keeps the file:line:col it came
// from. Each file is parsed and ${VAR}-expanded on its own; every error of
// every file is reported. A relative path is relative to the directory of the
// file that wrote it. The Result's message names the files ("a.yaml + b.yaml").
Result<ConfigNode> loadConfigLayers(const std::vector<std::string>& paths, Diagnostics& diagnostics,
                                    const EnvironmentLookup& lookup = processEnvironment);
Result<KernelConfig> loadKernelConfig(const std::vector<std::string>& paths, Diagnostics& diagnostics,
                                      const EnvironmentLookup& lookup = processEnvironment);

// "a.yaml + b.yaml": how the layers are named in messages.
std::string layerNames(const std::vector<std::string>& paths);

// The same from an already parsed and expanded tree; `path` names the file in
// the error message and its directory resolves relative paths.
Result<KernelConfig> kernelConfigFromNode(const ConfigNode& root, const std::string& path,
                                          Diagnostics& diagnostics);

}  // namespace hive::host
