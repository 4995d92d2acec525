// Reading and checking plugin manifests straight from the bytes of a .so file,
// before dlopen runs any of the plugin's code.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hive/status.hpp"

namespace hive::host {

struct ServiceKey {
  std::string name;
  std::uint32_t major = 0;

  std::string toString() const { return name + "/" + std::to_string(major); }
  friend bool operator==(const ServiceKey&, const ServiceKey&) = default;
};

struct PluginManifest {
  std::uint16_t abiMajor = 0;
  std::uint16_t abiMinor = 0;
  std::string toolchain;
  std::string asioRuntime;
  std::string name;
  std::string version;
  std::string description;
  struct Dependency {
    std::string name;
    std::string range;
  };
  std::vector<Dependency> dependencies;
  std::vector<ServiceKey> provides;
  std::vector<ServiceKey> requiredServices;

  // "name 1.2.0", how refusals name a plugin.
  std::string label() const { return "plugin '" + name + "' " + version; }
};

// What this kernel accepts; `current()` is what it was built with.
struct HostAbi {
  std::uint16_t major = 0;
  std::uint16_t minor = 0;
  std::string toolchain;
  std::string asioRuntime;

  static HostAbi current();
};

// [a-z][a-z0-9_]*, at most 47 characters: the rule HIVE_PLUGIN checks at
// compile time, for names that come from elsewhere (config, CLI).
bool isPluginName(std::string_view name);

// Parses the ELF image and extracts the "hive_manifest" section. Errors are one
// line: "not an ELF file", "truncated ELF file: ...", "not a Hive plugin: ...".
Result<PluginManifest> readManifest(std::span<const unsigned char> image);

// One clear line naming the field that differs, e.g.
// "plugin 'x' 2.1.0: built for SDK ABI 2.x, host provides 1.0".
Status checkCompatibility(const PluginManifest& manifest, const HostAbi& host);

}  // namespace hive::host
