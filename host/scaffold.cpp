#include "host/scaffold.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>

#include "host/manifest.hpp"

namespace hive::host {
namespace {

// @NAME@ is the plugin name, @TYPE@ its PascalCase form (test suite names).
constexpr std::string_view kCMakeLists =
    R"(# The @NAME@ Hive plugin, built against the installed Hive SDK (see README.md).
cmake_minimum_required(VERSION 3.25)
project(@NAME@ VERSION 0.1.0 LANGUAGES CXX)

find_package(HiveSDK CONFIG REQUIRED)

# @NAME@-<version>.so with the flags a hot-swappable plugin needs, and @NAME@_objects,
# the same sources as an object library for the unit test.
hive_add_plugin(NAME @NAME@ VERSION ${PROJECT_VERSION} SOURCES src/plugin.cpp)
# One place for the version: the manifest reads it from here.
target_compile_definitions(@NAME@_objects PRIVATE PLUGIN_VERSION="${PROJECT_VERSION}")

enable_testing()
find_package(GTest REQUIRED)
include(GoogleTest)
add_executable(@NAME@_test tests/plugin_test.cpp)
target_include_directories(@NAME@_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
target_link_libraries(@NAME@_test PRIVATE @NAME@_objects Hive::sdk_testing GTest::gtest_main)
target_compile_definitions(@NAME@_test PRIVATE PLUGIN_LIBRARY="$<TARGET_FILE:@NAME@>")
add_dependencies(@NAME@_test @NAME@)
gtest_discover_tests(@NAME@_test DISCOVERY_TIMEOUT 60)
)";

constexpr std::string_view kPluginHeader = R"(// The @NAME@ plugin.
//
// config:
//   greeting: hello    logged when the plugin starts; must not be empty
#pragma once

#include <string>

#include <hive/plugin.hpp>

namespace @NAME@ {

class Plugin final : public hive::Plugin {
 public:
  explicit Plugin(hive::PluginContext& context);

  // hive::Plugin
  void configure(const hive::ConfigNode& section, hive::Diagnostics& diagnostics) override;
  hive::Status start() override;
  void stop() override;

 private:
  hive::PluginContext& context_;
  std::string greeting_;
};

}  // namespace @NAME@
)";

constexpr std::string_view kPluginSource = R"(#include "plugin.hpp"

namespace @NAME@ {

Plugin::Plugin(hive::PluginContext& context) : context_(context) {}

void Plugin::configure(const hive::ConfigNode& section, hive::Diagnostics& diagnostics) {
  hive::ConfigReader reader(section, diagnostics);
  greeting_ = reader.get<std::string>("greeting", "hello");
  if (greeting_.empty()) reader.reject("greeting", "must not be empty");
  reader.finish();  // unknown keys are errors, with a "did you mean"
}

hive::Status Plugin::start() {
  context_.log().info("started: " + greeting_);
  return hive::okStatus();
}

void Plugin::stop() { context_.log().info("stopped"); }

}  // namespace @NAME@

// The entry point the kernel looks for: the manifest and the factory.
HIVE_PLUGIN(@NAME@::Plugin, .name = "@NAME@", .version = PLUGIN_VERSION,
            .description = "The @NAME@ plugin")
)";

constexpr std::string_view kTest = R"(#include "plugin.hpp"

#include <gtest/gtest.h>

#include <hive/testing/harness.hpp>

namespace {

using hive::testing::configFromPairs;
using hive::testing::PluginHarness;

TEST(@TYPE@Test, LogsItsGreetingOnStartAndStop) {
  auto harness = PluginHarness::create<@NAME@::Plugin>("@NAME@");
  harness->setConfig(configFromPairs({{"greeting", "hi"}}));
  ASSERT_FALSE(harness->configure().hasErrors());
  ASSERT_TRUE(harness->start().ok());
  harness->stop();
  EXPECT_EQ(harness->logLines(), (std::vector<std::string>{"info: started: hi", "info: stopped"}));
}

TEST(@TYPE@Test, RejectsAnEmptyGreeting) {
  auto harness = PluginHarness::create<@NAME@::Plugin>("@NAME@");
  harness->setConfig(configFromPairs({{"greeting", ""}}));
  EXPECT_EQ(harness->configure().toString(), "<config>: error: 'greeting': must not be empty\n");
}

TEST(@TYPE@Test, RejectsAnUnknownKey) {
  auto harness = PluginHarness::create<@NAME@::Plugin>("@NAME@");
  harness->setConfig(configFromPairs({{"greting", "hi"}}));
  auto diagnostics = harness->configure();
  ASSERT_TRUE(diagnostics.hasErrors());
  EXPECT_NE(diagnostics.toString().find("did you mean 'greeting'"), std::string::npos);
}

// The built library, loaded and checked the way the kernel does it.
TEST(@TYPE@Test, TheBuiltLibraryLoads) {
  auto harness = PluginHarness::loadLibrary(PLUGIN_LIBRARY);
  ASSERT_TRUE(harness.ok()) << harness.status().toString();
  EXPECT_STREQ((*harness)->manifest()->name, "@NAME@");
  ASSERT_TRUE((*harness)->start().ok());
  EXPECT_EQ((*harness)->logLines().back(), "info: started: hello");
}

}  // namespace
)";

constexpr std::string_view kReadme = R"(# @NAME@

A Hive plugin, built against the installed Hive SDK.

With the SDK installed in /opt/hive (in the Hive tree:
`cmake --install build/release --prefix /opt/hive`):

    cmake -S . -B build -G Ninja -DCMAKE_PREFIX_PATH=/opt/hive
    cmake --build build
    ctest --test-dir build --output-on-failure
    cp build/@NAME@-0.1.0.so <a plugin directory of your Hive>

Then enable it in the kernel's config:

    plugins:
      @NAME@:
        config:
          greeting: hello

The version lives in `project()` in CMakeLists.txt; the library name and the
manifest follow it. `tests/plugin_test.cpp` drives the plugin with
`hive::testing::PluginHarness` (no kernel needed). See docs/plugin-authors.md in the
Hive repository for the rules a plugin follows (ABI, services, hot reload).
)";

constexpr std::string_view kGitignore = "/build/\n";

// Names the skeleton cannot use as its namespace: C++ keywords, and namespaces its
// own code already refers to.
constexpr std::string_view kKeywords[] = {
    "alignas",     "alignof",   "and",        "and_eq",    "asm",      "auto",         "bitand",
    "bitor",       "bool",      "break",      "case",      "catch",    "char",         "char8_t",
    "char16_t",    "char32_t",  "class",      "compl",     "concept",  "const",        "consteval",
    "constexpr",   "constinit", "const_cast", "continue",  "co_await", "co_return",    "co_yield",
    "decltype",    "default",   "delete",     "do",        "double",   "dynamic_cast", "else",
    "enum",        "explicit",  "export",     "extern",    "false",    "float",        "for",
    "friend",      "goto",      "if",         "inline",    "int",      "long",         "mutable",
    "namespace",   "new",       "noexcept",   "not",       "not_eq",   "nullptr",      "operator",
    "or",          "or_eq",     "private",    "protected", "public",   "register",     "reinterpret_cast",
    "requires",    "return",    "short",      "signed",    "sizeof",   "static",       "static_assert",
    "static_cast", "struct",    "switch",     "template",  "this",     "thread_local", "throw",
    "true",        "try",       "typedef",    "typeid",    "typename", "union",        "unsigned",
    "using",       "virtual",   "void",       "volatile",  "wchar_t",  "while",        "xor",
    "xor_eq"};
constexpr std::string_view kNamespacesInUse[] = {"std", "hive", "testing", "posix"};

Status checkName(std::string_view name) {
  auto bad = [&](std::string why) {
    return invalidArgument("plugin name '" + std::string(name) + "' " + why);
  };
  if (name.empty()) return invalidArgument("plugin name is empty");
  if (name.size() > 47) return bad("is longer than 47 characters");
  if (!isPluginName(name))
    return bad("must match [a-z][a-z0-9_]* (lower case letters, digits, '_'; a letter first)");
  if (std::ranges::find(kKeywords, name) != std::end(kKeywords) ||
      std::ranges::find(kNamespacesInUse, name) != std::end(kNamespacesInUse))
    return bad("cannot be used: it is the plugin's C++ namespace, and '" + std::string(name) +
               "' is a keyword or a namespace already in use");
  return okStatus();
}

// demo_plugin -> DemoPlugin
std::string pascalCase(std::string_view name) {
  std::string out;
  bool upper = true;
  for (char c : name) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out += upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    upper = false;
  }
  return out;
}

std::string render(std::string_view text, std::string_view name) {
  const std::pair<std::string_view, std::string> substitutions[] = {{"@NAME@", std::string(name)},
                                                                    {"@TYPE@", pascalCase(name)}};
  std::string out(text);
  for (const auto& [marker, value] : substitutions)
    for (auto at = out.find(marker); at != std::string::npos; at = out.find(marker, at + value.size()))
      out.replace(at, marker.size(), value);
  return out;
}

}  // namespace

Status writePluginSkeleton(const std::filesystem::path& directory, std::string_view name) {
  namespace fs = std::filesystem;
  HIVE_TRY(checkName(name));
  std::error_code error;
  if (fs::exists(directory, error)) {
    if (!fs::is_directory(directory, error))
      return alreadyExists(directory.string() + " exists and is not a directory");
    if (!fs::is_empty(directory, error))
      return alreadyExists(directory.string() + " exists and is not empty");
  }
  for (const char* sub : {"src", "tests"}) {
    fs::create_directories(directory / sub, error);
    if (error) return unavailable("cannot create " + (directory / sub).string() + ": " + error.message());
  }
  const std::pair<const char*, std::string_view> files[] = {{"CMakeLists.txt", kCMakeLists},
                                                            {"src/plugin.hpp", kPluginHeader},
                                                            {"src/plugin.cpp", kPluginSource},
                                                            {"tests/plugin_test.cpp", kTest},
                                                            {"README.md", kReadme},
                                                            {".gitignore", kGitignore}};
  for (const auto& [file, text] : files) {
    std::ofstream out(directory / file, std::ios::binary);
    out << render(text, name);
    out.close();
    if (!out) return unavailable("cannot write " + (directory / file).string());
  }
  return okStatus();
}

}  // namespace hive::host
