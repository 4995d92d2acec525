#include "raw_manifest.hpp"
HIVE_TEST_RAW_PLUGIN(hive::test::TracePlugin,
                     hive::test::damaged(hive::detail::makeManifest(hive::PluginInfo{.name = "abi_major",
                                                                                     .version = "2.1.0"}),
                                         [](HiveManifest& m) { m.abi_major = HIVE_SDK_ABI_MAJOR + 1; }))
