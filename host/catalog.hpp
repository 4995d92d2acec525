// Discovery: every plugin file in the configured directories, with its
// manifest, read without loading anything.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "host/manifest.hpp"

namespace hive::host {

// A plugin file, read once: its manifest, content hash and bytes travel
// together from the scan to dlopen, so what is loaded is what was inspected
// even when the file changes in between. A file a scan already knew unchanged
// (same device, inode, size, modification and change times) comes without its
// bytes; withBytes() reads them when it is about to be loaded.
struct PluginFile {
  std::string path;
  PluginManifest manifest;
  std::uint64_t contentHash = 0;
  std::shared_ptr<const std::vector<unsigned char>> bytes;
};

struct Catalog {
  std::vector<PluginFile> plugins;    // compatible, uniquely named+versioned plugin files
  std::vector<std::string> refusals;  // one line per refused file: "<path>: <reason>"

  // Every file of plugin `name`, any version.
  std::vector<const PluginFile*> versionsOf(const std::string& name) const;
  std::vector<std::string> names() const;
};

// Scans each directory (not recursively) for *.so files, reading each new or
// changed one once (a catalog holds their bytes until it is dropped: keep it
// short-lived) and only stat()ing the others: every `plugins reload` and SIGHUP
// rescans, and reading 300 MB of debug plugins each time made a swap take
// seconds. Unreadable,
// non-ELF, truncated, non-plugin and incompatible files, and files declaring the
// same plugin name and version as another, are refused with one line each.
Catalog scanPluginDirectories(const std::vector<std::string>& directories, const HostAbi& host);

// One file read, its manifest checked for compatibility.
Result<PluginFile> readPluginEntry(const std::string& path, const HostAbi& host);

// `file` with its bytes: as is when it has them, else read now, and refused
// (kUnavailable) when they no longer hash to what the scan saw.
Result<PluginFile> withBytes(const PluginFile& file);

}  // namespace hive::host
