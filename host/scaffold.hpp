// `hive plugin new NAME`: a ready-to-build out-of-tree plugin.
#pragma once

#include <filesystem>
#include <string_view>

#include "hive/status.hpp"

namespace hive::host {

// Writes CMakeLists.txt, src/plugin.{hpp,cpp}, tests/plugin_test.cpp and README.md
// into `directory` (created; refused when it exists and is not empty). The
// project builds against the installed SDK: find_package(HiveSDK CONFIG).
Status writePluginSkeleton(const std::filesystem::path& directory, std::string_view name);

}  // namespace hive::host
