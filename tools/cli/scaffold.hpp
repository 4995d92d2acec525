// `hive plugin new NAME`: a ready-to-build out-of-tree plugin, made from
// examples/hello_plugin itself (installed with the SDK as the plugin template),
// so that the example and what the scaffold writes cannot drift apart.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "hive/status.hpp"

namespace hive::tools {

// <prefix>/share/hive/plugin-template next to an installed hive
// (<prefix>/bin/hive), else examples/hello_plugin of the source tree the
// binary was built from.
std::filesystem::path findPluginTemplate();

// Copies the template into `directory` (created; refused when it exists and is
// not an empty directory), its build directories and dot files left out, with
// every "hello", "Hello" and "HELLO" in file names and contents replaced by
// `name` in the same spelling (demo_plugin, DemoPlugin, DEMO_PLUGIN). `name`
// must match [a-z][a-z0-9_]* (at most 47 characters) and not be a C++ keyword
// or a namespace the skeleton already uses (std, hive, testing): it becomes the
// plugin's C++ namespace. The project builds against the installed SDK
// (find_package(HiveSDK CONFIG)) and its test uses Hive::sdk_testing.
Status writePluginSkeleton(const std::filesystem::path& directory, std::string_view name,
                           const std::filesystem::path& templateRoot = findPluginTemplate());

// `hive plugin new NAME --dir DIRECTORY`: writePluginSkeleton, said on
// stdout, or the error on stderr; the exit code.
int newPluginCommand(const std::string& name, const std::string& directory);

}  // namespace hive::tools
