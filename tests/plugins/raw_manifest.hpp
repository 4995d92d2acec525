// For deliberately broken test plugins: a manifest built as usual and then
// damaged in one field, with the usual entry points.
#pragma once

#include "trace_plugin.hpp"

#define HIVE_TEST_RAW_PLUGIN(PluginClass, manifestExpression)                                          \
  extern "C" HIVE_EXPORT __attribute__((section(HIVE_MANIFEST_SECTION), used))                         \
  const HiveManifest hive_plugin_manifest = manifestExpression;                                        \
  extern "C" HIVE_EXPORT ::hive::Plugin* hive_plugin_create(::hive::PluginContext* context) noexcept { \
    return new PluginClass(*context);                                                                  \
  }                                                                                                    \
  extern "C" HIVE_EXPORT void hive_plugin_destroy(::hive::Plugin* plugin) noexcept { delete plugin; }

namespace hive::test {
template <typename Damage>
constexpr HiveManifest damaged(HiveManifest manifest, Damage damage) {
  damage(manifest);
  return manifest;
}
}  // namespace hive::test
