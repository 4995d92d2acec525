// The Plugin interface and HIVE_PLUGIN, the one macro a plugin's entry file uses.
//
// Lifecycle, driven by the kernel on one thread at a time:
//   construct(context) -> configure(section) -> start() -> [health()...] -> stop() -> destroy
// `hive check-config` constructs and configures a plugin but never starts it.
//
// No exception may leave any of these methods: return a Status instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "hive/config.hpp"
#include "hive/context.hpp"
#include "hive/manifest.h"
#include "hive/services.hpp"
#include "hive/status.hpp"
#include "hive/version.h"

namespace hive {

// State passed from a running generation of a plugin to its replacement during a
// hot reload: versioned bytes plus file descriptors (e.g. a listening socket).
struct Handoff {
  std::uint32_t stateVersion = 0;
  std::string state;
  std::vector<int> fileDescriptors;  // owned by the Handoff's receiver once passed
};

class Plugin {
 public:
  virtual ~Plugin() = default;

  // Reads the plugin's `config:` section into typed settings and reports every
  // problem, with its location, into `diagnostics` (use hive::ConfigReader).
  // Must not start work or touch other plugins.
  virtual void configure(const ConfigNode& section, Diagnostics& diagnostics) = 0;

  // Starts serving; may look up and provide services. A non-OK status fails the
  // plugin: its dependents are not started.
  virtual Status start() = 0;

  // Stops all work the plugin started; when it returns, no callback of the plugin
  // is scheduled or running. Services it provided are withdrawn by the kernel.
  virtual void stop() = 0;

  // Liveness of a started plugin.
  virtual Status health() { return okStatus(); }

  // Hot reload hooks. Defaults make a plugin reloadable by stop/start without
  // state transfer.
  //
  // Applies a changed config section to a running plugin; a non-OK status (or
  // errors in `diagnostics`) rejects the whole config reload.
  virtual Status reconfigure(const ConfigNode& section, Diagnostics& diagnostics) {
    (void)section;
    (void)diagnostics;
    return unimplemented("plugin cannot be reconfigured live; it will be restarted");
  }
  // Old generation: packs its state for the next one.
  virtual Result<Handoff> handoff() { return unimplemented("no state handoff"); }
  // New generation: starts from the old generation's state. Return
  // kFailedPrecondition for a state version it does not understand; the kernel
  // then starts it from nothing with start().
  virtual Status startFrom(Handoff handoff) {
    (void)handoff;
    return failedPrecondition("state handoff not supported");
  }
  // Old generation: stop accepting new work; in-flight work continues.
  virtual void beginDrain() {}
  // True once no in-flight work is left.
  virtual bool drained() const { return true; }
};

// A dependency on another plugin: its name and a semver range
// (">=1.2.0 <2.0.0", "^1.2", "~1.2.3", "1.x", "*").
struct PluginDependency {
  const char* name = nullptr;
  const char* range = "*";
};

// What a plugin author writes in HIVE_PLUGIN.
struct PluginInfo {
  const char* name = nullptr;     // [a-z][a-z0-9_]*, at most 47 characters
  const char* version = nullptr;  // semver MAJOR.MINOR.PATCH
  const char* description = "";
  PluginDependency dependencies[HIVE_MAX_DEPENDENCIES] = {};
  ServiceId provides[HIVE_MAX_SERVICES] = {};
  ServiceId requiredServices[HIVE_MAX_SERVICES] = {};
};

namespace detail {

#if defined(__clang__)
#define HIVE_DETAIL_COMPILER "clang"
#elif defined(__GNUC__)
#define HIVE_DETAIL_COMPILER "gcc"
#else
#define HIVE_DETAIL_COMPILER "unknown"
#endif
#if defined(__GLIBCXX__) && _GLIBCXX_USE_CXX11_ABI
#define HIVE_DETAIL_STDLIB "libstdc++-cxx11"
#elif defined(__GLIBCXX__)
#define HIVE_DETAIL_STDLIB "libstdc++-cow"
#elif defined(_LIBCPP_VERSION)
#define HIVE_DETAIL_STDLIB "libc++"
#else
#define HIVE_DETAIL_STDLIB "unknown"
#endif
#if defined(__x86_64__)
#define HIVE_DETAIL_ARCH "x86_64"
#elif defined(__aarch64__)
#define HIVE_DETAIL_ARCH "aarch64"
#else
#define HIVE_DETAIL_ARCH "unknown"
#endif

// The toolchain tag both sides compute; the kernel refuses a plugin whose tag
// differs from its own.
inline constexpr const char kToolchain[] = HIVE_DETAIL_COMPILER ";" HIVE_DETAIL_STDLIB ";" HIVE_DETAIL_ARCH;

#ifdef HIVE_ASIO_RUNTIME_VERSION
inline constexpr const char kAsioRuntime[] = HIVE_ASIO_RUNTIME_VERSION;
#else
inline constexpr const char kAsioRuntime[] = "";
#endif

// For the kernel's own tags: an array, never null. (GCC cannot constant-fold a
// null test of a global's address under -fsanitize=address.)
template <std::size_t N, std::size_t M>
consteval void copyTag(char (&destination)[N], const char (&source)[M], const char* what) {
  if (M > N) throw what;  // compile error: the tag is too long
  for (std::size_t i = 0; i < N; ++i) destination[i] = i < M ? source[i] : '\0';
}

template <std::size_t N>
consteval void copyField(char (&destination)[N], const char* source, const char* what) {
  if (source == nullptr) source = "";
  std::size_t i = 0;
  for (; source[i] != '\0'; ++i) {
    if (i + 1 >= N) throw what;  // compile error: the field is too long
    destination[i] = source[i];
  }
  for (; i < N; ++i) destination[i] = '\0';
}

consteval bool isPluginName(const char* name) {
  if (name == nullptr || !(name[0] >= 'a' && name[0] <= 'z')) return false;
  for (std::size_t i = 0; name[i] != '\0'; ++i) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// MAJOR.MINOR.PATCH with an optional -prerelease / +build suffix.
consteval bool isSemver(const char* version) {
  if (version == nullptr) return false;
  std::size_t i = 0;
  for (int part = 0; part < 3; ++part) {
    if (part > 0 && version[i++] != '.') return false;
    std::size_t digits = 0;
    while (version[i] >= '0' && version[i] <= '9') ++i, ++digits;
    if (digits == 0) return false;
  }
  return version[i] == '\0' || version[i] == '-' || version[i] == '+';
}

consteval HiveManifest makeManifest(const PluginInfo& info) {
  if (!isPluginName(info.name)) throw "HIVE_PLUGIN: .name must match [a-z][a-z0-9_]*";
  if (!isSemver(info.version)) throw "HIVE_PLUGIN: .version must be semver MAJOR.MINOR.PATCH";
  HiveManifest m{};
  for (int i = 0; i < HIVE_MANIFEST_MAGIC_SIZE; ++i) m.magic[i] = HIVE_MANIFEST_MAGIC[i];
  m.manifest_size = sizeof(HiveManifest);
  m.abi_major = HIVE_SDK_ABI_MAJOR;
  m.abi_minor = HIVE_SDK_ABI_MINOR;
  copyTag(m.toolchain, kToolchain, "toolchain tag too long");
  copyTag(m.asio_runtime, kAsioRuntime, "asio runtime tag too long");
  copyField(m.name, info.name, "HIVE_PLUGIN: .name longer than 47 characters");
  copyField(m.version, info.version, "HIVE_PLUGIN: .version longer than 31 characters");
  copyField(m.description, info.description, "HIVE_PLUGIN: .description longer than 127 characters");
  for (int i = 0; i < HIVE_MAX_DEPENDENCIES; ++i) {
    copyField(m.dependencies[i].name, info.dependencies[i].name, "dependency name too long");
    copyField(m.dependencies[i].range, info.dependencies[i].name ? info.dependencies[i].range : "",
              "dependency range too long");
  }
  for (int i = 0; i < HIVE_MAX_SERVICES; ++i) {
    copyField(m.provides[i].id, info.provides[i].name, "service id too long");
    m.provides[i].major = info.provides[i].major;
    copyField(m.requires_services[i].id, info.requiredServices[i].name, "service id too long");
    m.requires_services[i].major = info.requiredServices[i].major;
  }
  return m;
}

consteval bool sameText(const char* a, const char* b) {
  for (;; ++a, ++b) {
    if (*a != *b) return false;
    if (*a == '\0') return true;
  }
}

}  // namespace detail
}  // namespace hive

#define HIVE_EXPORT __attribute__((visibility("default")))

// hive_add_plugin passes its VERSION as HIVE_PLUGIN_VERSION: the manifest must
// say the same, so that the file name and what the kernel reads cannot differ.
// A plugin writes `.version = HIVE_PLUGIN_VERSION` to give its version once.
#ifdef HIVE_PLUGIN_VERSION
#define HIVE_PLUGIN_CHECK_BUILD_VERSION(...)                                                            \
  static_assert(::hive::detail::sameText(::hive::PluginInfo{__VA_ARGS__}.version, HIVE_PLUGIN_VERSION), \
                "HIVE_PLUGIN: .version differs from the VERSION given to hive_add_plugin");
#else
#define HIVE_PLUGIN_CHECK_BUILD_VERSION(...)
#endif

// Declares the plugin in its entry file (exactly once per library):
//
//   HIVE_PLUGIN(GreeterPlugin,
//               .name = "greeter",
//               .version = "1.2.0",
//               .description = "Greets people",
//               .dependencies = {{"storage_sqlite", "^1.0"}},
//               .provides = {example::Greeter::kServiceId})
//
// `PluginClass` must derive from hive::Plugin and be constructible from
// hive::PluginContext&. Name, version and lengths are checked at compile time.
#define HIVE_PLUGIN(PluginClass, ...)                                                                      \
  HIVE_PLUGIN_CHECK_BUILD_VERSION(__VA_ARGS__)                                                             \
  extern "C" HIVE_EXPORT __attribute__((section(HIVE_MANIFEST_SECTION), used))                             \
  const HiveManifest hive_plugin_manifest = ::hive::detail::makeManifest(::hive::PluginInfo{__VA_ARGS__}); \
  extern "C" HIVE_EXPORT ::hive::Plugin* hive_plugin_create(::hive::PluginContext* context) noexcept {     \
    try {                                                                                                  \
      return new PluginClass(*context);                                                                    \
    } catch (...) {                                                                                        \
      return nullptr;                                                                                      \
    }                                                                                                      \
  }                                                                                                        \
  extern "C" HIVE_EXPORT void hive_plugin_destroy(::hive::Plugin* plugin) noexcept { delete plugin; }
