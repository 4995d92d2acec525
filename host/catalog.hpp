// Discovery: every plugin file in the configured directories, with its
// manifest, read without loading anything.
#pragma once

#include <string>
#include <vector>

#include "host/manifest.hpp"

namespace hive::host {

struct PluginFile {
  std::string path;
  PluginManifest manifest;
};

struct Catalog {
  std::vector<PluginFile> plugins;    // compatible, uniquely named+versioned plugin files
  std::vector<std::string> refusals;  // one line per refused file: "<path>: <reason>"

  // Every file of plugin `name`, any version.
  std::vector<const PluginFile*> versionsOf(const std::string& name) const;
  std::vector<std::string> names() const;
};

// Scans each directory (not recursively) for *.so files. Unreadable,
// non-ELF, truncated, non-plugin and incompatible files, and files declaring the
// same plugin name and version as another, are refused with one line each.
Catalog scanPluginDirectories(const std::vector<std::string>& directories, const HostAbi& host);

// The manifest of one file, checked for compatibility.
Result<PluginManifest> inspectPluginFile(const std::string& path, const HostAbi& host);

}  // namespace hive::host
