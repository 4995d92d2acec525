#include "host/install_layout.hpp"

#ifndef HIVE_INSTALL_PLUGIN_DIR
#error \
    "HIVE_INSTALL_PLUGIN_DIR (the plugin directory relative to the install prefix) comes from host/CMakeLists.txt"
#endif

namespace fs = std::filesystem;

namespace hive::host {

fs::path installPrefix() {
  std::error_code error;
  fs::path executable = fs::read_symlink("/proc/self/exe", error);
  if (error) return {};
  return executable.parent_path().parent_path();
}

fs::path defaultPluginDirectory(const fs::path& fallback) {
  fs::path prefix = installPrefix();
  if (prefix.empty()) return fallback;
  std::error_code error;
  fs::path installed = prefix / HIVE_INSTALL_PLUGIN_DIR;
  return fs::is_directory(installed, error) ? installed : fallback;
}

}  // namespace hive::host
