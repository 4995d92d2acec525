// `hive plugin new NAME`: a ready-to-build out-of-tree plugin.
#pragma once

#include <filesystem>
#include <string_view>

#include "hive/status.hpp"

namespace hive::host {

// Writes CMakeLists.txt, src/plugin.{hpp,cpp}, tests/plugin_test.cpp, README.md and
// .gitignore into `directory`, which is created; refused when it exists and is not an
// empty directory. `name` must match [a-z][a-z0-9_]* (at most 47 characters) and not be
// a C++ keyword or a namespace the skeleton already uses (std, hive, testing): it
// becomes the plugin's C++ namespace. The project builds against the installed SDK
// (find_package(HiveSDK CONFIG)) and its test uses Hive::sdk_testing.
Status writePluginSkeleton(const std::filesystem::path& directory, std::string_view name);

}  // namespace hive::host
