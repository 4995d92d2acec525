#include "host/catalog.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "host/plugin_library.hpp"

namespace hive::host {

namespace fs = std::filesystem;

std::vector<const PluginFile*> Catalog::versionsOf(const std::string& name) const {
  std::vector<const PluginFile*> out;
  for (const auto& p : plugins)
    if (p.manifest.name == name) out.push_back(&p);
  return out;
}

std::vector<std::string> Catalog::names() const {
  std::set<std::string> unique;
  for (const auto& p : plugins) unique.insert(p.manifest.name);
  return {unique.begin(), unique.end()};
}

Result<PluginFile> readPluginEntry(const std::string& path, const HostAbi& host) {
  auto bytes = std::make_shared<const std::vector<unsigned char>>(HIVE_TRY(readPluginFile(path)));
  auto manifest = HIVE_TRY(readManifest(*bytes));
  HIVE_TRY(checkCompatibility(manifest, host));
  return PluginFile{path, std::move(manifest), contentHash(*bytes), std::move(bytes)};
}

Catalog scanPluginDirectories(const std::vector<std::string>& directories, const HostAbi& host) {
  Catalog catalog;
  for (const auto& directory : directories) {
    std::error_code error;
    fs::directory_iterator it(directory, error);
    if (error) {
      catalog.refusals.push_back(directory + ": cannot list plugin directory: " + error.message());
      continue;
    }
    std::vector<std::string> files;
    for (const auto& entry : it) {
      if (entry.path().extension() != ".so") continue;
      if (!entry.is_regular_file(error)) continue;
      files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
      auto file = readPluginEntry(path, host);
      if (!file.ok()) {
        catalog.refusals.push_back(path + ": " + file.status().message());
        continue;
      }
      catalog.plugins.push_back(std::move(file).value());
    }
  }

  // The same name and version twice is ambiguous: refuse every copy.
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> seen;
  for (const auto& p : catalog.plugins) seen[{p.manifest.name, p.manifest.version}].push_back(p.path);
  std::erase_if(catalog.plugins, [&](const PluginFile& p) {
    const auto& paths = seen[{p.manifest.name, p.manifest.version}];
    if (paths.size() < 2) return false;
    std::string others;
    for (const auto& other : paths)
      if (other != p.path) others += (others.empty() ? "" : ", ") + other;
    catalog.refusals.push_back(p.path + ": " + p.manifest.label() +
                               ": duplicate plugin name and version (also in " + others + ")");
    return true;
  });
  return catalog;
}

}  // namespace hive::host
