// Reading manifests from real plugin files, and every compatibility refusal.
#include "host/manifest.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hive/version.h"
#include "host/catalog.hpp"
#include "test_support.hpp"

namespace hive::host {
namespace {

namespace fs = std::filesystem;
using hive::test::TempDirectory;
using hive::test::testPlugin;
using ::testing::HasSubstr;

std::vector<unsigned char> bytesOf(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(ManifestTest, ReadsEveryFieldOfARealPlugin) {
  auto manifest = readManifest(bytesOf(testPlugin("beta-1.0.0.so")));
  ASSERT_TRUE(manifest.ok()) << manifest.status().toString();
  EXPECT_EQ(manifest->name, "beta");
  EXPECT_EQ(manifest->version, "1.0.0");
  EXPECT_EQ(manifest->abiMajor, HIVE_SDK_ABI_MAJOR);
  EXPECT_EQ(manifest->abiMinor, HIVE_SDK_ABI_MINOR);
  EXPECT_EQ(manifest->toolchain, HostAbi::current().toolchain);
  ASSERT_EQ(manifest->dependencies.size(), 1u);
  EXPECT_EQ(manifest->dependencies[0].name, "alpha");
  EXPECT_EQ(manifest->dependencies[0].range, "^1.0");
  ASSERT_EQ(manifest->requiredServices.size(), 1u);
  EXPECT_EQ(manifest->requiredServices[0].toString(), "test.counter/1");
  EXPECT_TRUE(manifest->provides.empty());
  EXPECT_TRUE(checkCompatibility(*manifest, HostAbi::current()).ok());

  auto alpha = readManifest(bytesOf(testPlugin("alpha-1.0.0.so")));
  ASSERT_TRUE(alpha.ok());
  ASSERT_EQ(alpha->provides.size(), 1u);
  EXPECT_EQ(alpha->provides[0].toString(), "test.counter/1");
  EXPECT_EQ(alpha->description, "test provider");
}

TEST(ManifestTest, RefusesNonElfBytes) {
  std::vector<unsigned char> text{'h', 'e', 'l', 'l', 'o', '\n'};
  EXPECT_EQ(readManifest(text).status().message(), "not an ELF file");
  EXPECT_EQ(readManifest({}).status().message(), "not an ELF file");
}

TEST(ManifestTest, RefusesTruncatedFiles) {
  auto bytes = bytesOf(testPlugin("alpha-1.0.0.so"));
  for (std::size_t keep : {std::size_t{5}, std::size_t{63}, bytes.size() / 2, bytes.size() - 1}) {
    std::vector<unsigned char> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(keep));
    auto manifest = readManifest(cut);
    ASSERT_FALSE(manifest.ok()) << "kept " << keep;
    EXPECT_NE(manifest.status().message().find("truncated ELF file"), std::string::npos)
        << manifest.status().message();
  }
}

TEST(ManifestTest, RefusesAnElfWithoutManifest) {
  // Any system shared library is an ELF but not a Hive plugin.
  auto manifest = readManifest(bytesOf("/lib/x86_64-linux-gnu/libdl.so.2"));
  ASSERT_FALSE(manifest.ok());
  EXPECT_EQ(manifest.status().message(), "not a Hive plugin: no hive_manifest section");
}

TEST(ManifestTest, RefusesBadMagic) {
  auto manifest = readManifest(bytesOf(testPlugin("bad_magic-1.0.0.so")));
  ASSERT_FALSE(manifest.ok());
  EXPECT_NE(manifest.status().message().find("bad manifest magic"), std::string::npos);
}

std::string refusal(const std::string& file) {
  auto manifest = readManifest(bytesOf(testPlugin(file)));
  EXPECT_TRUE(manifest.ok()) << manifest.status().toString();
  if (!manifest.ok()) return "";
  return checkCompatibility(*manifest, HostAbi::current()).message();
}

TEST(ManifestTest, EachIncompatibilityNamesItsField) {
  const std::string host = std::to_string(HIVE_SDK_ABI_MAJOR) + "." + std::to_string(HIVE_SDK_ABI_MINOR);
  EXPECT_EQ(refusal("abi_major-2.1.0.so"), "plugin 'abi_major' 2.1.0: built for SDK ABI " +
                                               std::to_string(HIVE_SDK_ABI_MAJOR + 1) + ".x, host provides " +
                                               host);
  EXPECT_EQ(refusal("abi_minor-1.0.0.so"),
            "plugin 'abi_minor' 1.0.0: built for SDK ABI " + std::to_string(HIVE_SDK_ABI_MAJOR) + "." +
                std::to_string(HIVE_SDK_ABI_MINOR + 7) + ", newer than the host's " + host);
  EXPECT_EQ(refusal("toolchain-1.0.0.so"),
            "plugin 'toolchain' 1.0.0: toolchain 'msvc;msvcrt;x86_64' differs from "
            "the host's '" +
                HostAbi::current().toolchain + "'");
}

TEST(ManifestTest, OlderMinorAndForeignAsioRuntimeAreJudgedByTheirFields) {
  auto manifest = readManifest(bytesOf(testPlugin("solo-1.0.0.so")));
  ASSERT_TRUE(manifest.ok());
  HostAbi newerHost = HostAbi::current();
  newerHost.minor += 3;
  EXPECT_TRUE(checkCompatibility(*manifest, newerHost).ok()) << "an older minor must be accepted";
  manifest->asioRuntime = "boost-1.70.0";
  EXPECT_NE(checkCompatibility(*manifest, HostAbi::current()).message().find("Asio runtime 'boost-1.70.0'"),
            std::string::npos);
}

// A rescan (every `plugins reload`, SIGHUP) reads only new or changed files;
// an unchanged one comes without bytes and is read when loaded, and a file
// that changed after the scan is refused then rather than loaded unchecked.
TEST(CatalogTest, ARescanReadsOnlyChangedFilesAndALateChangeIsCaught) {
  TempDirectory dir;
  hive::test::stagePlugins(dir.path(), {"alpha-1.0.0.so", "solo-1.0.0.so"});
  Catalog first = scanPluginDirectories({dir.path().string()}, HostAbi::current());
  ASSERT_EQ(first.plugins.size(), 2u);
  for (const auto& file : first.plugins) EXPECT_TRUE(file.bytes) << "read by the first scan: " << file.path;

  Catalog second = scanPluginDirectories({dir.path().string()}, HostAbi::current());
  ASSERT_EQ(second.plugins.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_FALSE(second.plugins[i].bytes) << "unchanged, not read again: " << second.plugins[i].path;
    EXPECT_EQ(second.plugins[i].contentHash, first.plugins[i].contentHash);
    EXPECT_EQ(second.plugins[i].manifest.name, first.plugins[i].manifest.name);
  }
  auto read = withBytes(second.plugins[0]);
  ASSERT_TRUE(read.ok()) << read.status().toString();
  ASSERT_TRUE(read->bytes);
  EXPECT_EQ(*read->bytes, *first.plugins[0].bytes);

  // Replaced by another build after the scan: caught when it is about to load.
  const PluginFile stale = second.plugins[0];
  fs::copy_file(testPlugin("beta-1.0.0.so"), stale.path, fs::copy_options::overwrite_existing);
  auto changed = withBytes(stale);
  ASSERT_FALSE(changed.ok());
  EXPECT_EQ(changed.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(changed.status().message(), HasSubstr("changed since it was scanned"));
  // And the next scan reads it again.
  Catalog third = scanPluginDirectories({dir.path().string()}, HostAbi::current());
  EXPECT_EQ(third.versionsOf("beta").size(), 1u);
  EXPECT_EQ(third.versionsOf("alpha").size(), 0u);
}

TEST(CatalogTest, ScansADirectoryAndRefusesEachBadFileWithOneLine) {
  TempDirectory dir;
  hive::test::stagePlugins(dir.path(), {"alpha-1.0.0.so", "alpha_v12-1.2.0.so", "abi_major-2.1.0.so",
                                        "bad_magic-1.0.0.so", "dup_a-1.0.0.so", "dup_b-1.0.0.so"});
  hive::test::writeText(dir.path() / "notes.so", "this is not a library\n");
  auto bytes = bytesOf(testPlugin("solo-1.0.0.so"));
  hive::test::writeText(dir.path() / "cut.so", std::string(bytes.begin(), bytes.begin() + 4000));
  hive::test::writeText(dir.path() / "README.txt", "ignored: not a .so\n");

  Catalog catalog =
      scanPluginDirectories({dir.path().string(), (dir.path() / "missing").string()}, HostAbi::current());
  ASSERT_EQ(catalog.plugins.size(), 2u);
  EXPECT_EQ(catalog.versionsOf("alpha").size(), 2u);
  ASSERT_EQ(catalog.refusals.size(), 7u);
  auto refused = [&](const std::string& needle) {
    for (const auto& r : catalog.refusals)
      if (r.find(needle) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(refused("notes.so: not an ELF file"));
  EXPECT_TRUE(refused("cut.so: truncated ELF file"));
  EXPECT_TRUE(refused("bad_magic-1.0.0.so: bad manifest magic"));
  EXPECT_TRUE(refused("abi_major-2.1.0.so: plugin 'abi_major' 2.1.0: built for SDK ABI"));
  EXPECT_TRUE(refused("dup_a-1.0.0.so: plugin 'dup' 1.0.0: duplicate plugin name and version (also in"));
  EXPECT_TRUE(refused("dup_b-1.0.0.so: plugin 'dup' 1.0.0: duplicate plugin name and version"));
  EXPECT_TRUE(refused("missing: cannot list plugin directory"));
  for (const auto& r : catalog.refusals) EXPECT_EQ(r.find('\n'), std::string::npos) << r;
}

}  // namespace
}  // namespace hive::host
