// Where `hive` finds what was laid out beside it: by `cmake --install` (or the
// Debian package) under one prefix.
#pragma once

#include <filesystem>

namespace hive::host {

// <prefix> of the running <prefix>/bin/hive; empty when /proc/self/exe is unreadable.
std::filesystem::path installPrefix();

// The plugin directory used when the config names none: the installed one
// (<prefix>/<libdir>/hive/plugins) when it exists, else `fallback`.
std::filesystem::path defaultPluginDirectory(const std::filesystem::path& fallback);

}  // namespace hive::host
