#include "host/scaffold.hpp"

#include <fstream>
#include <string>

namespace hive::host {
namespace {

constexpr std::string_view kCMakeLists = R"(cmake_minimum_required(VERSION 3.25)
project(@NAME@ VERSION 0.1.0 LANGUAGES CXX)

# The installed Hive SDK: pass -DCMAKE_PREFIX_PATH=<prefix the SDK was installed to>.
find_package(HiveSDK CONFIG REQUIRED)

# Builds @NAME@-0.1.0.so with the flags a hot-swappable plugin needs, and
# @NAME@_objects, the same sources as an object library for the unit tests.
hive_add_plugin(NAME @NAME@ VERSION ${PROJECT_VERSION} SOURCES src/plugin.cpp)

include(CTest)
if(BUILD_TESTING)
  find_package(GTest REQUIRED)
  include(GoogleTest)
  add_executable(@NAME@_test tests/plugin_test.cpp)
  target_link_libraries(@NAME@_test PRIVATE @NAME@_objects Hive::sdk_testing GTest::gtest_main)
  gtest_discover_tests(@NAME@_test)
endif()
)";

constexpr std::string_view kPluginHeader = R"(// @NAME@: a Hive plugin.
#pragma once

#include <hive/plugin.hpp>
#include <string>

namespace @NAME@ {

class Plugin final : public hive::Plugin {
 public:
  explicit Plugin(hive::PluginContext& context) : context_(context) {}

  // hive::Plugin
  void configure(const hive::ConfigNode& section, hive::Diagnostics& diagnostics) override {
    hive::ConfigReader reader(section, diagnostics);
    greeting_ = reader.get<std::string>("greeting", "hello");
    if (greeting_.empty()) reader.reject("greeting", "must not be empty");
    reader.finish();  // unknown keys are errors, with a "did you mean"
  }

  hive::Status start() override {
    context_.log().info("started: " + greeting_);
    return hive::okStatus();
  }

  void stop() override { context_.log().info("stopped"); }

  const std::string& greeting() const { return greeting_; }

 private:
  hive::PluginContext& context_;
  std::string greeting_;
};

}  // namespace @NAME@
)";

constexpr std::string_view kPlugin = R"(// The entry point: the manifest and the factory, nothing else.
#include "plugin.hpp"

HIVE_PLUGIN(@NAME@::Plugin, .name = "@NAME@", .version = "0.1.0", .description = "@NAME@ plugin")
)";

constexpr std::string_view kTest = R"(#include <gtest/gtest.h>
#include <hive/testing/harness.hpp>

#include "../src/plugin.hpp"

TEST(@NAME@Test, StartsWithItsConfiguredGreeting) {
  auto harness = hive::testing::PluginHarness::create<@NAME@::Plugin>("@NAME@");
  harness->setConfig(hive::testing::configFromPairs({{"greeting", "hi"}}));
  EXPECT_FALSE(harness->configure().hasErrors());
  ASSERT_TRUE(harness->start().ok());
  harness->stop();
}

TEST(@NAME@Test, RejectsAnUnknownKey) {
  auto harness = hive::testing::PluginHarness::create<@NAME@::Plugin>("@NAME@");
  harness->setConfig(hive::testing::configFromPairs({{"greting", "hi"}}));
  auto diagnostics = harness->configure();
  ASSERT_TRUE(diagnostics.hasErrors());
  EXPECT_NE(diagnostics.toString().find("did you mean 'greeting'"), std::string::npos);
}
)";

constexpr std::string_view kReadme = R"(# @NAME@

A Hive plugin, built against the installed Hive SDK.

    cmake -S . -B build -G Ninja -DCMAKE_PREFIX_PATH=/opt/hive
    cmake --build build
    ctest --test-dir build
    cp build/@NAME@-0.1.0.so <a plugin directory of your hive>

Then enable it in the kernel's config:

    plugins:
      @NAME@:
        config:
          greeting: hello

See docs/plugin-authors.md in the Hive repository for the rules a plugin
follows (ABI, services, hot reload).
)";

std::string render(std::string_view text, std::string_view name) {
  std::string out(text);
  for (std::size_t at = out.find("@NAME@"); at != std::string::npos; at = out.find("@NAME@", at + name.size()))
    out.replace(at, 6, name);
  return out;
}

bool validName(std::string_view name) {
  if (name.empty() || name.size() > 47 || !(name[0] >= 'a' && name[0] <= 'z')) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

}  // namespace

Status writePluginSkeleton(const std::filesystem::path& directory, std::string_view name) {
  namespace fs = std::filesystem;
  if (!validName(name))
    return invalidArgument("plugin name '" + std::string(name) + "' must match [a-z][a-z0-9_]* (at most 47 characters)");
  std::error_code error;
  if (fs::exists(directory, error) && !fs::is_empty(directory, error))
    return alreadyExists(directory.string() + " exists and is not empty");
  fs::create_directories(directory / "src", error);
  fs::create_directories(directory / "tests", error);
  if (error) return unavailable("cannot create " + directory.string() + ": " + error.message());
  const std::pair<const char*, std::string_view> files[] = {
      {"CMakeLists.txt", kCMakeLists}, {"src/plugin.hpp", kPluginHeader}, {"src/plugin.cpp", kPlugin}, {"tests/plugin_test.cpp", kTest}, {"README.md", kReadme}};
  for (const auto& [file, text] : files) {
    std::ofstream out(directory / file, std::ios::binary);
    out << render(text, name);
    if (!out) return unavailable("cannot write " + (directory / file).string());
  }
  return okStatus();
}

}  // namespace hive::host
