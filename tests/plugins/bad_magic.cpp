#include "raw_manifest.hpp"
HIVE_TEST_RAW_PLUGIN(hive::test::TracePlugin,
                     hive::test::damaged(hive::detail::makeManifest(hive::PluginInfo{.name = "bad_magic",
                                                                                     .version = "1.0.0"}),
                                         [](HiveManifest& m) { m.magic[0] = 'X'; }))
