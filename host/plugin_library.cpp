#include "host/plugin_library.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string_view>
#include <utility>

namespace hive::host {
namespace {

// Plugins are small; a file this large is not one we map.
constexpr std::uintmax_t kMaxPluginBytes = 512ull * 1024 * 1024;

}  // namespace

Result<std::vector<unsigned char>> readPluginFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return unavailable("cannot read: " + std::string(std::strerror(errno)));
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::uintmax_t>(in.tellg());
  if (size > kMaxPluginBytes) return resourceExhausted("file is larger than 512 MiB");
  in.seekg(0);
  std::vector<unsigned char> bytes(size);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
    return unavailable("cannot read: short read");
  return bytes;
}

namespace {

std::string hex(std::uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

// The memfd holding the private copy; the library keeps it open while loaded.
class SealedImage {
 public:
  ~SealedImage() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status create(const std::string& name, const std::vector<unsigned char>& bytes) {
    fd_ = ::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd_ < 0) return unavailable("memfd_create: " + std::string(std::strerror(errno)));
    std::size_t written = 0;
    while (written < bytes.size()) {
      ssize_t n = ::write(fd_, bytes.data() + written, bytes.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return unavailable("writing private copy: " + std::string(std::strerror(errno)));
      written += static_cast<std::size_t>(n);
    }
    if (::fcntl(fd_, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
      return unavailable("sealing private copy: " + std::string(std::strerror(errno)));
    return okStatus();
  }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

std::atomic<std::uint64_t> nextImageSerial{1};

}  // namespace

std::uint64_t contentHash(const std::vector<unsigned char>& bytes) {
  // libstdc++'s byte hash (64-bit MurmurHash2, compiled optimised in the shared
  // library): every rescan hashes every plugin file, and a byte-by-byte loop
  // built for a sanitizer took seconds for the 300 MB of a debug build.
  static_assert(sizeof(std::size_t) == sizeof(std::uint64_t));
  return std::hash<std::string_view>{}(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

Result<std::shared_ptr<PluginLibrary>> PluginLibrary::load(const PluginFile& file, LibraryReaper& reaper) {
  if (!file.bytes) return internalError(file.path + ": loaded without its bytes");
  const std::vector<unsigned char>& bytes = *file.bytes;
  PluginManifest manifest = file.manifest;
  const std::string& path = file.path;
  std::uint64_t hash = file.contentHash;
  // The serial keeps two loads of identical bytes apart in /proc/self/maps.
  std::string imageName = "hive-" + manifest.name + "-" + manifest.version + "-" + hex(hash).substr(0, 12) +
                          "-" + std::to_string(nextImageSerial.fetch_add(1));
  SealedImage image;
  HIVE_TRY(image.create(imageName, bytes), manifest.label());

  void* handle = ::dlopen(image.path().c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* error = ::dlerror();
    return unavailable(manifest.label() + ": dlopen failed: " + (error ? error : "unknown error"));
  }
  auto create = reinterpret_cast<Plugin* (*)(PluginContext*) noexcept>(::dlsym(handle, HIVE_CREATE_SYMBOL));
  auto destroy = reinterpret_cast<void (*)(Plugin*) noexcept>(::dlsym(handle, HIVE_DESTROY_SYMBOL));
  if (create == nullptr || destroy == nullptr) {
    ::dlclose(handle);
    return failedPrecondition(manifest.label() + ": missing entry point " +
                              (create ? HIVE_DESTROY_SYMBOL : HIVE_CREATE_SYMBOL) +
                              " (declare it with HIVE_PLUGIN)");
  }

  std::shared_ptr<PluginLibrary> library(new PluginLibrary(), [&reaper](PluginLibrary* l) {
    if (l->handle_ != nullptr) reaper.enqueue(l->handle_, l->imageFd_, l->imageName_);
    delete l;
  });
  library->manifest_ = std::move(manifest);
  library->sourcePath_ = path;
  library->imageName_ = std::move(imageName);
  library->contentHash_ = hash;
  library->handle_ = handle;
  library->imageFd_ = image.release();
  library->create_ = create;
  library->destroy_ = destroy;
  return library;
}

Result<Plugin*> PluginLibrary::createPlugin(PluginContext& context) const {
  Plugin* plugin = create_(&context);
  if (plugin == nullptr) return internalError(manifest_.label() + ": constructor failed");
  return plugin;
}

void PluginLibrary::destroyPlugin(Plugin* plugin) const {
  if (plugin != nullptr) destroy_(plugin);
}

LibraryReaper::~LibraryReaper() {
  // Whatever is still queued at exit stays mapped: closing it now, with threads
  // possibly still running, is the crash this class exists to avoid.
}

void LibraryReaper::enqueue(void* handle, int imageFd, std::string imageName) {
  std::lock_guard lock(mutex_);
  queue_.push_back({handle, imageFd, std::move(imageName)});
}

std::vector<std::string> LibraryReaper::reap() {
  std::vector<Closing> queued;
  {
    std::lock_guard lock(mutex_);
    queued.swap(queue_);
  }
  std::vector<std::string> closed;
  for (auto& c : queued) {
    ::dlclose(c.handle);
    // A library glibc would not unmap stays registered under its
    // "/proc/self/fd/N" path: keep N open so that no later load reuses the
    // path and gets this library back.
    if (c.imageFd >= 0 && !isImageMapped(c.imageName)) ::close(c.imageFd);
    closed.push_back(std::move(c.imageName));
  }
  return closed;
}

std::size_t LibraryReaper::pending() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

bool isImageMapped(const std::string& imageName) {
  std::ifstream maps("/proc/self/maps");
  // Mapped memfds read "/memfd:<name> (deleted)"; the trailing space keeps
  // "...-1" from matching "...-12".
  const std::string needle = "/memfd:" + imageName + " ";
  std::string line;
  while (std::getline(maps, line))
    if (line.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace hive::host
