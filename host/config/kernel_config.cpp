#include "host/config/kernel_config.hpp"

#include <sched.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <thread>

#include "host/config/yaml_loader.hpp"
#include "host/install_layout.hpp"
#include "host/manifest.hpp"
#include "host/semver.hpp"

namespace hive::host {

int usableCores() {
  // The affinity mask, not the machine: a container or taskset may give fewer.
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

int defaultIoThreads(int cores) { return std::max(1, cores / 2); }

int defaultBlockingThreads(int cores) { return std::clamp(4 * cores, 8, 64); }

namespace {

namespace fs = std::filesystem;

// The wording operators see (docs/operators.md): "<n> error(s) in <file>".
std::string errorCount(std::size_t errors, const std::string& path) {
  return std::to_string(errors) + " error(s) in " + path;
}

std::string resolvePath(const std::string& value, const fs::path& base) {
  fs::path p(value);
  return (p.is_absolute() ? p : base / p).lexically_normal().string();
}

// A relative path is relative to the directory of the file that wrote it: with
// layered files (`-c base.yaml -c overlay.yaml`), an overlay's paths are its own.
std::string resolvePath(const ConfigNode& node, const fs::path& base) {
  const std::string& file = node.location().file;
  if (file.empty()) return resolvePath(node.text(), base);
  std::error_code error;
  fs::path directory = fs::absolute(fs::path(file), error).parent_path();
  return resolvePath(node.text(), error ? base : directory);
}

// A section that must be a map: reports, naming the section, when it is not.
// ConfigReader's own "expected a map" would not say which one.
bool isMapOrAbsent(const ConfigNode& node, const std::string& what, Diagnostics& diagnostics) {
  if (node.isMap() || node.isNull()) return true;
  diagnostics.error(node.location(), what + ": expected a map");
  return false;
}

int readBounded(ConfigReader& reader, std::string_view key, int fallback, int low, int high) {
  // ConfigNode::as<int> would quote the (empty) text of a list or map.
  if (const ConfigNode& node = reader.child(key); node.isSequence() || node.isMap()) {
    reader.reject(key, std::string("expected an integer, got ") + (node.isMap() ? "a map" : "a list"));
    return fallback;
  }
  return reader.getInRange<int>(key, fallback, low, high);
}

std::optional<LogLevel> readLogLevel(ConfigReader& reader, std::string_view key) {
  if (!reader.has(key) || reader.child(key).isNull()) return std::nullopt;
  if (!reader.child(key).isScalar()) {
    reader.reject(key, "expected one of trace, debug, info, warn, error, critical, off");
    return std::nullopt;
  }
  auto level = parseLogLevel(reader.child(key).text());
  if (!level.ok()) {
    reader.reject(key, level.status().message());
    return std::nullopt;
  }
  return *level;
}

// Each item: a key (base64 or hex) or a file holding one (a `.pub` written by
// `hive plugin keygen`), relative to the config file's directory.
void readTrustedKeys(const ConfigNode& node, const fs::path& base, PluginTrust& trust,
                     Diagnostics& diagnostics) {
  if (node.isNull()) return;
  if (!node.isSequence()) {
    diagnostics.error(node.location(), "'trusted_keys': expected a list of public keys or key files");
    return;
  }
  for (const auto& item : node.items()) {
    if (!item.isScalar() || item.text().empty()) {
      diagnostics.error(item.location(), "'trusted_keys': expected a public key or a key file");
      continue;
    }
    auto key = parsePublicKey(item.text());
    if (!key.ok()) {
      std::string path = resolvePath(item, base);
      std::error_code missing;
      if (!fs::is_regular_file(path, missing)) {
        diagnostics.error(item.location(), "'trusted_keys': '" + item.text() + "' is " +
                                               key.status().message() + ", nor a key file");
        continue;
      }
      std::ifstream in(path);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      key = parsePublicKey(text.size() > 4096 ? std::string_view() : std::string_view(text));
      if (!key.ok()) {
        diagnostics.error(item.location(), "'trusted_keys': " + path + ": " + key.status().message());
        continue;
      }
    }
    trust.trustedKeys.push_back(*key);
  }
}

void readKernel(const ConfigNode& node, const fs::path& base, KernelConfig& config,
                Diagnostics& diagnostics) {
  config.pluginDirectories = {defaultPluginDirectory(resolvePath("plugins", base))};
  config.dataDirectory = resolvePath("../data", base);
  if (!isMapOrAbsent(node, "'hive'", diagnostics)) return;
  ConfigReader reader(node, diagnostics);
  const ConfigNode& dirs = reader.child("plugin_dirs");
  if (dirs.isNull()) {
    // The default set above stays.
  } else if (!dirs.isSequence() || dirs.items().empty()) {
    diagnostics.error(dirs.location(), "'plugin_dirs': expected a non-empty list of directories");
  } else {
    config.pluginDirectories.clear();
    for (const auto& item : dirs.items()) {
      if (!item.isScalar() || item.text().empty()) {
        diagnostics.error(item.location(), "'plugin_dirs': expected a directory path");
        continue;
      }
      config.pluginDirectories.push_back(resolvePath(item, base));
    }
  }
  config.ioThreads = readBounded(reader, "io_threads", config.ioThreads, 1, 256);
  config.blockingThreads = readBounded(reader, "blocking_threads", config.blockingThreads, 1, 1024);
  if (auto level = readLogLevel(reader, "log_level")) config.logLevel = *level;
  std::string format = reader.get<std::string>("log_format", "text");
  if (format == "json")
    config.logFormat = LogFormat::kJson;
  else if (format != "text")
    reader.reject("log_format", "expected text or json, got '" + format + "'");
  config.drainDeadline = reader.get<std::chrono::milliseconds>("drain_deadline", config.drainDeadline);
  if (config.drainDeadline.count() == 0) reader.reject("drain_deadline", "must be greater than 0");
  config.startTimeout = reader.get<std::chrono::milliseconds>("start_timeout", config.startTimeout);
  if (config.startTimeout < std::chrono::seconds(1) || config.startTimeout > std::chrono::hours(24))
    reader.reject("start_timeout", "must be between 1s and 24h");
  config.watchdogPeriod = reader.get<std::chrono::milliseconds>("watchdog_period", config.watchdogPeriod);
  if (config.watchdogPeriod < std::chrono::milliseconds(100) || config.watchdogPeriod > std::chrono::hours(1))
    reader.reject("watchdog_period", "must be between 100ms and 1h");
  // Absent: the default set above (../data beside the first file) stays.
  std::string dataDirectory = reader.get<std::string>("data_dir", "../data");
  if (dataDirectory.empty())
    reader.reject("data_dir", "must not be empty");
  else if (reader.child("data_dir").isScalar())
    config.dataDirectory = resolvePath(reader.child("data_dir"), base);
  // Empty means "no control socket", so it is not resolved into the config directory.
  std::string socket = reader.get<std::string>("control_socket", "");
  config.controlSocket = socket.empty() ? "" : resolvePath(reader.child("control_socket"), base);
  config.pluginTrust.requireSigned = reader.get<bool>("require_signed_plugins", false);
  std::size_t errorsBefore = diagnostics.errorCount();
  readTrustedKeys(reader.child("trusted_keys"), base, config.pluginTrust, diagnostics);
  if (config.pluginTrust.requireSigned && config.pluginTrust.trustedKeys.empty() &&
      diagnostics.errorCount() == errorsBefore)
    reader.reject("require_signed_plugins", "needs at least one key in hive.trusted_keys");
  reader.finish();
}

void readPlugins(const ConfigNode& node, KernelConfig& config, Diagnostics& diagnostics) {
  if (node.isNull()) return;
  if (!node.isMap()) {
    diagnostics.error(node.location(), "'plugins': expected a map of plugin name to settings");
    return;
  }
  for (const auto& entry : node.entries()) {
    if (!isPluginName(entry.key)) {
      diagnostics.error(entry.keyLocation, "invalid plugin name '" + entry.key +
                                               "': expected [a-z][a-z0-9_]*, at most 47 characters");
      continue;
    }
    if (!isMapOrAbsent(entry.value, "plugin '" + entry.key + "'", diagnostics)) continue;
    PluginEntry plugin;
    plugin.name = entry.key;
    plugin.location = entry.keyLocation;
    ConfigReader reader(entry.value, diagnostics);
    plugin.enabled = reader.get<bool>("enabled", true);
    plugin.required = reader.get<bool>("required", false);
    plugin.versionRange = reader.get<std::string>("version", "*");
    if (auto range = VersionRange::parse(plugin.versionRange); !range.ok())
      reader.reject("version", range.status().message());
    plugin.logLevel = readLogLevel(reader, "log_level");
    const ConfigNode& section = reader.child("config");
    if (!section.isNull() && !section.isMap())
      diagnostics.error(section.location(), "'config': expected a map (the plugin's own settings)");
    plugin.config = section.isNull() ? ConfigNode::map(entry.keyLocation) : section;
    reader.finish();
    config.plugins.push_back(std::move(plugin));
  }
}

}  // namespace

Result<LogLevel> parseLogLevel(std::string_view text) {
  static constexpr std::pair<std::string_view, LogLevel> kLevels[] = {
      {"trace", LogLevel::kTrace}, {"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo},
      {"warn", LogLevel::kWarn},   {"error", LogLevel::kError}, {"critical", LogLevel::kCritical},
      {"off", LogLevel::kOff}};
  for (const auto& [name, level] : kLevels)
    if (text == name) return level;
  return invalidArgument("expected one of trace, debug, info, warn, error, critical, off; got '" +
                         std::string(text) + "'");
}

Result<KernelConfig> kernelConfigFromNode(const ConfigNode& root, const std::string& path,
                                          Diagnostics& diagnostics) {
  std::size_t errorsBefore = diagnostics.errorCount();
  KernelConfig config;
  config.sourceFile = path;
  config.sourceFiles = {path};
  std::error_code error;
  fs::path absolute = fs::absolute(fs::path(path), error);
  if (error) {
    diagnostics.error({path, 0, 0}, "cannot resolve the config file's directory: " + error.message());
    return invalidArgument(errorCount(1, path));
  }
  fs::path base = absolute.parent_path();
  if (isMapOrAbsent(root, "the config file", diagnostics)) {
    ConfigReader top(root, diagnostics);
    // Older versions are read (a plugin names a setting in an old shape, and
    // `hive check-config` says how to migrate); a newer one is another Hive's.
    if (auto version = top.get<std::int64_t>("version", kConfigVersion); version > kConfigVersion)
      top.reject("version", "written for config version " + std::to_string(version) +
                                "; this Hive reads 1 to " + std::to_string(kConfigVersion) +
                                " (upgrade Hive, or write the file for " + std::to_string(kConfigVersion) +
                                ")");
    else if (version < 1)
      top.reject("version", "must be at least 1");
    readKernel(top.child("hive"), base, config, diagnostics);
    readPlugins(top.child("plugins"), config, diagnostics);
    top.finish();
  }
  std::size_t errors = diagnostics.errorCount() - errorsBefore;
  if (errors > 0) return invalidArgument(errorCount(errors, path));
  return config;
}

namespace {

// The key location of `key` in `map` (a map entry's own location).
SourceLocation keyLocationIn(const ConfigNode& map, const std::string& key) {
  for (const auto& entry : map.entries())
    if (entry.key == key) return entry.keyLocation;
  return {};
}

ConfigNode mergeLayers(const ConfigNode& base, const ConfigNode& overlay) {
  if (!base.isMap() || !overlay.isMap()) return overlay;
  ConfigNode merged = ConfigNode::map(base.location());
  for (const auto& entry : base.entries()) {
    const ConfigNode* over = overlay.find(entry.key);
    if (over == nullptr)
      merged.set(entry.key, entry.value, entry.keyLocation);
    else
      merged.set(entry.key, mergeLayers(entry.value, *over), keyLocationIn(overlay, entry.key));
  }
  for (const auto& entry : overlay.entries())
    if (base.find(entry.key) == nullptr) merged.set(entry.key, entry.value, entry.keyLocation);
  return merged;
}

}  // namespace

std::string layerNames(const std::vector<std::string>& paths) {
  std::string names;
  for (const auto& path : paths) names += (names.empty() ? "" : " + ") + path;
  return names;
}

Result<ConfigNode> loadConfigLayers(const std::vector<std::string>& paths, Diagnostics& diagnostics,
                                    const EnvironmentLookup& lookup) {
  if (paths.empty()) return invalidArgument("no config file given");
  std::size_t errorsBefore = diagnostics.errorCount();
  std::optional<Status> unreadable;
  ConfigNode merged;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    auto root = parseYamlFile(paths[i], diagnostics);
    if (!root.ok()) {
      if (!unreadable) unreadable = root.status();
      continue;
    }
    expandVariables(*root, lookup, diagnostics);
    merged = i == 0 ? std::move(root).value() : mergeLayers(merged, *root);
  }
  std::size_t errors = diagnostics.errorCount() - errorsBefore;
  // Keep the code of an unreadable file (an absent one is NotFound).
  if (unreadable) return Status(unreadable->code(), errorCount(errors, layerNames(paths)));
  return merged;
}

Result<KernelConfig> loadKernelConfig(const std::vector<std::string>& paths, Diagnostics& diagnostics,
                                      const EnvironmentLookup& lookup) {
  std::size_t errorsBefore = diagnostics.errorCount();
  auto root = loadConfigLayers(paths, diagnostics, lookup);
  if (!root.ok()) return root.status();
  // Validation runs even after expansion errors, so that every error is reported at once.
  auto config = kernelConfigFromNode(*root, paths.front(), diagnostics);
  std::size_t errors = diagnostics.errorCount() - errorsBefore;
  if (errors > 0) return invalidArgument(errorCount(errors, layerNames(paths)));
  if (!config.ok()) return config.status();
  config->sourceFiles = paths;
  return config;
}

Result<KernelConfig> loadKernelConfig(const std::string& path, Diagnostics& diagnostics,
                                      const EnvironmentLookup& lookup) {
  return loadKernelConfig(std::vector<std::string>{path}, diagnostics, lookup);
}

}  // namespace hive::host
