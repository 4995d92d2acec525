#include "raw_manifest.hpp"
HIVE_TEST_RAW_PLUGIN(hive::test::TracePlugin,
                     hive::test::damaged(hive::detail::makeManifest(hive::PluginInfo{.name = "abi_minor",
                                                                                     .version = "1.0.0"}),
                                         [](HiveManifest& m) { m.abi_minor = HIVE_SDK_ABI_MINOR + 7; }))
