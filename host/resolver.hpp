// Dependency resolution over the enabled set of plugins: which file of each
// plugin to load, which plugins cannot run and why, and the start order.
#pragma once

#include <string>
#include <vector>

#include "hive/config.hpp"
#include "host/catalog.hpp"

namespace hive::host {

struct EnabledPlugin {
  std::string name;
  std::string versionRange = "*";
  bool required = false;
  SourceLocation location;  // where the config enables it
};

struct Refusal {
  std::string name;
  bool required = false;
  SourceLocation location;
  std::string reason;  // one line, naming the plugin and the field at fault
};

struct Resolution {
  std::vector<const PluginFile*> startOrder;  // dependencies (plugins and service providers) first
  std::vector<Refusal> refusals;

  bool requiredRefused() const;
};

// The highest version of `entry.name` in the catalog inside `entry.versionRange`;
// kNotFound (with a "did you mean") or kInvalidArgument (bad range) otherwise.
Result<const PluginFile*> selectVersion(const Catalog& catalog, const EnabledPlugin& entry);

// Refusals: plugin not found (with a "did you mean"), no version in range,
// missing dependency, dependency version out of range, bad range in a
// manifest, dependency cycle, required service without a provider; and, by
// cascade, every plugin that depends on a refused one.
Resolution resolvePlugins(const Catalog& catalog, const std::vector<EnabledPlugin>& enabled);

}  // namespace hive::host
