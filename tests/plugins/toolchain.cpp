#include "raw_manifest.hpp"
namespace {
constexpr void foreignToolchain(HiveManifest& m) {
  const char tag[] = "msvc;msvcrt;x86_64";
  for (std::size_t i = 0; i < sizeof m.toolchain; ++i) m.toolchain[i] = i < sizeof tag ? tag[i] : '\0';
}
}  // namespace
HIVE_TEST_RAW_PLUGIN(hive::test::TracePlugin,
                     hive::test::damaged(hive::detail::makeManifest(hive::PluginInfo{.name = "toolchain",
                                                                                     .version = "1.0.0"}),
                                         foreignToolchain))
