// One loaded plugin library, mapped from a sealed private copy of its file.
//
// The kernel never maps the file a build writes: the bytes are copied into a
// sealed memfd (named after the plugin and a content hash) and dlopen'ed from
// there, so a rebuild or `cp` over the original cannot corrupt mapped code, and
// loading the same path again always yields a fresh image. The manifest is read
// from the very bytes that get mapped.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hive/plugin.hpp"
#include "host/catalog.hpp"
#include "host/manifest.hpp"

namespace hive::host {

class LibraryReaper;

class PluginLibrary {
 public:
  // Copies the bytes `file` was read from (readPluginEntry checked their
  // manifest) into a sealed memfd and dlopens it with RTLD_NOW | RTLD_LOCAL.
  // Every failure is one line. The returned pointer's last release hands the
  // handle to `reaper`, which closes it once no thread can be inside the library.
  static Result<std::shared_ptr<PluginLibrary>> load(const PluginFile& file, LibraryReaper& reaper);

  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;

  const PluginManifest& manifest() const { return manifest_; }
  const std::string& sourcePath() const { return sourcePath_; }
  // The name of the private copy as it appears in /proc/self/maps.
  const std::string& imageName() const { return imageName_; }
  std::uint64_t contentHash() const { return contentHash_; }

  // Creates the plugin object; it must be released with destroyPlugin.
  Result<Plugin*> createPlugin(PluginContext& context) const;
  void destroyPlugin(Plugin* plugin) const;

 private:
  friend class LibraryReaper;
  PluginLibrary() = default;

  PluginManifest manifest_;
  std::string sourcePath_;
  std::string imageName_;
  std::uint64_t contentHash_ = 0;
  void* handle_ = nullptr;
  // The memfd stays open while the library is loaded: glibc matches dlopen
  // paths by name first, and a reused "/proc/self/fd/N" would return the old
  // library instead of loading the new one.
  int imageFd_ = -1;
  Plugin* (*create_)(PluginContext*) noexcept = nullptr;
  void (*destroy_)(Plugin*) noexcept = nullptr;
};

// Closes released libraries from kernel code only, after the caller made sure
// no thread is inside them (Runtime::quiesce). dlclose from a plugin's own call
// stack would return into unmapped code.
class LibraryReaper {
 public:
  ~LibraryReaper();
  void enqueue(void* handle, int imageFd, std::string imageName);
  // dlcloses every queued library; returns the image names closed. The caller
  // has quiesced the threads that may run plugin code.
  std::vector<std::string> reap();
  std::size_t pending() const;

 private:
  mutable std::mutex mutex_;
  struct Closing {
    void* handle;
    int imageFd;
    std::string imageName;
  };
  std::vector<Closing> queue_;
};

// True when /proc/self/maps has a mapping whose path contains `imageName`.
bool isImageMapped(const std::string& imageName);

// A plugin file's bytes, read in one go (kResourceExhausted past 512 MiB).
Result<std::vector<unsigned char>> readPluginFile(const std::string& path);

// A 64-bit hash of the content (not cryptographic): names private copies, and
// tells a changed plugin file from an unchanged one.
std::uint64_t contentHash(const std::vector<unsigned char>& bytes);

}  // namespace hive::host
