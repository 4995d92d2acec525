#include "host/catalog.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
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

namespace {

// A compatible file as a scan last read it, and how to tell it has not changed.
struct Known {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  timespec modified{};
  timespec changed{};
  PluginManifest manifest;
  std::uint64_t hash = 0;

  bool sameFile(const struct stat& now) const {
    return now.st_dev == device && now.st_ino == inode && now.st_size == size &&
           now.st_mtim.tv_sec == modified.tv_sec && now.st_mtim.tv_nsec == modified.tv_nsec &&
           now.st_ctim.tv_sec == changed.tv_sec && now.st_ctim.tv_nsec == changed.tv_nsec;
  }
};

std::mutex knownMutex;
std::map<std::string, Known> knownFiles;  // by path; as many as files ever scanned

Result<PluginFile> scanOne(const std::string& path, const HostAbi& host) {
  struct stat before {};
  bool statted = ::stat(path.c_str(), &before) == 0;
  if (statted) {
    std::lock_guard lock(knownMutex);
    auto it = knownFiles.find(path);
    if (it != knownFiles.end() && it->second.sameFile(before) &&
        checkCompatibility(it->second.manifest, host).ok())
      return PluginFile{path, it->second.manifest, it->second.hash, nullptr};
  }
  auto file = HIVE_TRY(readPluginEntry(path, host));
  struct stat after {};
  // Remembered only when nothing changed while it was read.
  if (statted && ::stat(path.c_str(), &after) == 0 && after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
      after.st_mtim.tv_nsec == before.st_mtim.tv_nsec && after.st_size == before.st_size &&
      static_cast<std::size_t>(after.st_size) == file.bytes->size()) {
    std::lock_guard lock(knownMutex);
    knownFiles[path] = Known{after.st_dev,  after.st_ino,  after.st_size,   after.st_mtim,
                             after.st_ctim, file.manifest, file.contentHash};
  }
  return file;
}

}  // namespace

Result<PluginFile> withBytes(const PluginFile& file) {
  if (file.bytes) return file;
  auto read = HIVE_TRY(readPluginEntry(file.path, HostAbi::current()));
  if (read.contentHash != file.contentHash)
    return unavailable(file.path + ": changed since it was scanned; scan again");
  return read;
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
      auto file = scanOne(path, host);
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
