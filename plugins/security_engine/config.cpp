#include "config.hpp"

#include <filesystem>

namespace hive::security_engine {
namespace {

// Relative key paths are relative to the config file that names them, so a
// config moved with its key file keeps working wherever hive is started.
std::string besideConfig(const std::string& path, const ConfigNode& node) {
  std::filesystem::path file(path);
  if (file.is_absolute() || node.location().file.empty()) return path;
  std::error_code error;
  return (std::filesystem::absolute(node.location().file, error).parent_path() / file)
      .lexically_normal()
      .string();
}

void readKeyFile(const ConfigNode& node, std::string_view key, MasterKey& out, Diagnostics& diagnostics) {
  auto loaded = MasterKey::fromFile(besideConfig(node.text(), node));
  if (loaded.ok())
    out = std::move(loaded).value();
  else
    diagnostics.error(node.location(), "'" + std::string(key) + "': " + loaded.status().message());
}

void readSecrets(const ConfigNode& node, SecretsSettings& secrets, Diagnostics& diagnostics) {
  if (node.isNull()) return;
  ConfigReader reader(node, diagnostics);
  std::string file = reader.get<std::string>("master_key_file", "");
  std::string variable = reader.get<std::string>("master_key_env", "");
  if (!file.empty() && !variable.empty()) {
    reader.reject("master_key_env", "set master_key_file or master_key_env, not both");
  } else if (!file.empty()) {
    readKeyFile(reader.child("master_key_file"), "master_key_file", secrets.current, diagnostics);
  } else if (!variable.empty()) {
    auto loaded = MasterKey::fromEnvironment(variable);
    if (loaded.ok())
      secrets.current = std::move(loaded).value();
    else
      reader.reject("master_key_env", loaded.status().message());
  }
  const ConfigNode& previous = reader.child("previous_key_files");
  if (previous.isSequence()) {
    for (const auto& item : previous.items()) {
      MasterKey key;
      readKeyFile(item, "previous_key_files", key, diagnostics);
      if (!key.empty()) secrets.previous.push_back(std::move(key));
    }
  } else if (!previous.isNull()) {
    diagnostics.error(previous.location(), "'previous_key_files': expected a list of key files");
  }
  if (!previous.isNull() && secrets.current.empty())
    diagnostics.error(previous.location(), "'previous_key_files' needs master_key_file or master_key_env");
  secrets.maxValueBytes = static_cast<std::size_t>(reader.getInRange<std::int64_t>(
      "max_value_bytes", static_cast<std::int64_t>(secrets.maxValueBytes), 1, 1024 * 1024));
  secrets.maxSecrets = static_cast<std::size_t>(reader.getInRange<std::int64_t>(
      "max_secrets", static_cast<std::int64_t>(secrets.maxSecrets), 1, 1'000'000));
  reader.finish();
}

}  // namespace

Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics) {
  Settings settings;
  ConfigReader reader(section, diagnostics);
  readSecrets(reader.child("secrets"), settings.secrets, diagnostics);
  settings.scanning = readScanSettings(reader.child("scanning"), diagnostics);
  reader.finish();
  return settings;
}

}  // namespace hive::security_engine
