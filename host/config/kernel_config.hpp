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

struct KernelConfig {
  std::string sourceFile;
  std::vector<std::string> pluginDirectories;  // absolute
  int ioThreads = 2;
  int blockingThreads = 4;
  LogLevel logLevel = LogLevel::kInfo;
  LogFormat logFormat = LogFormat::kText;
  std::chrono::milliseconds drainDeadline{10'000};
  std::string dataDirectory;  // absolute
  std::string controlSocket;  // absolute, or empty when disabled
  std::vector<PluginEntry> plugins;  // in file order
};

Result<LogLevel> parseLogLevel(std::string_view text);

// Parses, expands ${VAR}, and validates the whole file; every error goes to
// `diagnostics` as file:line:col. Relative paths are resolved against the
// directory of the file.
Result<KernelConfig> loadKernelConfig(const std::string& path, Diagnostics& diagnostics,
                                      const EnvironmentLookup& lookup = processEnvironment);

// The same from an already parsed and expanded tree.
Result<KernelConfig> kernelConfigFromNode(const ConfigNode& root, const std::string& path, Diagnostics& diagnostics);

}  // namespace hive::host
