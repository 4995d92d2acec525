// A plugin built for the next SDK ABI major: the harness must refuse it before it
// constructs anything. Written by hand because HIVE_PLUGIN always stamps the current ABI.
#include "hive/plugin.hpp"

namespace {

consteval HiveManifest futureManifest() {
  HiveManifest manifest =
      hive::detail::makeManifest(hive::PluginInfo{.name = "harness_future_abi", .version = "1.0.0"});
  manifest.abi_major = HIVE_SDK_ABI_MAJOR + 1;
  return manifest;
}

}  // namespace

extern "C" HIVE_EXPORT __attribute__((section(HIVE_MANIFEST_SECTION), used))
const HiveManifest hive_plugin_manifest = futureManifest();

extern "C" HIVE_EXPORT hive::Plugin* hive_plugin_create(hive::PluginContext*) noexcept { return nullptr; }

extern "C" HIVE_EXPORT void hive_plugin_destroy(hive::Plugin*) noexcept {}
