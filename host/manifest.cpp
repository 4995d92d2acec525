#include "host/manifest.hpp"

#include <elf.h>

#include <cstddef>
#include <cstring>

#include <boost/version.hpp>

#include "hive/manifest.h"
#include "hive/plugin.hpp"

namespace hive::host {
namespace {

#ifndef HIVE_ASIO_RUNTIME_VERSION
#error "the kernel links Hive::asio_runtime, which defines HIVE_ASIO_RUNTIME_VERSION"
#endif

#if defined(__x86_64__)
constexpr std::uint16_t kHostMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr std::uint16_t kHostMachine = EM_AARCH64;
#endif

// A fixed-size, possibly unterminated char field as a string.
template <std::size_t N>
std::string field(const char (&chars)[N]) {
  return std::string(chars, strnlen(chars, N));
}

template <typename T>
bool readAt(std::span<const unsigned char> image, std::uint64_t offset, T& out) {
  if (offset > image.size() || image.size() - offset < sizeof(T)) return false;
  std::memcpy(&out, image.data() + offset, sizeof(T));
  return true;
}

Status truncated(const std::string& what) {
  return invalidArgument("truncated ELF file: " + what + " lies past the end");
}

std::vector<ServiceKey> services(const HiveManifestService (&slots)[HIVE_MAX_SERVICES]) {
  std::vector<ServiceKey> out;
  for (const auto& slot : slots)
    if (slot.major != 0 && slot.id[0] != '\0') out.push_back({field(slot.id), slot.major});
  return out;
}

}  // namespace

bool isPluginName(std::string_view name) {
  if (name.empty() || name.size() > sizeof(HiveManifest::name) - 1 || !(name[0] >= 'a' && name[0] <= 'z'))
    return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

HostAbi HostAbi::current() {
  return {HIVE_SDK_ABI_MAJOR, HIVE_SDK_ABI_MINOR, detail::kToolchain, HIVE_ASIO_RUNTIME_VERSION};
}

Result<PluginManifest> readManifest(std::span<const unsigned char> image) {
  Elf64_Ehdr header;
  if (image.size() < 4 || std::memcmp(image.data(), ELFMAG, SELFMAG) != 0)
    return invalidArgument("not an ELF file");
  if (!readAt(image, 0, header)) return truncated("the ELF header");
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB)
    return invalidArgument("not a 64-bit little-endian ELF file");
  if (header.e_type != ET_DYN)
    return invalidArgument("not a shared library (ELF type " + std::to_string(header.e_type) + ")");
  if (header.e_machine != kHostMachine)
    return invalidArgument("built for another architecture (ELF machine " + std::to_string(header.e_machine) +
                           ", host " + std::to_string(kHostMachine) + ")");
  if (header.e_shentsize != sizeof(Elf64_Shdr) || header.e_shnum == 0)
    return invalidArgument("ELF file has no section table");
  std::uint64_t tableSize = std::uint64_t{header.e_shnum} * sizeof(Elf64_Shdr);
  if (header.e_shoff > image.size() || image.size() - header.e_shoff < tableSize)
    return truncated("the section table");
  auto section = [&](std::size_t index) {
    Elf64_Shdr s;
    std::memcpy(&s, image.data() + header.e_shoff + index * sizeof(Elf64_Shdr), sizeof s);
    return s;
  };
  if (header.e_shstrndx >= header.e_shnum) return invalidArgument("ELF file has no section name table");
  Elf64_Shdr names = section(header.e_shstrndx);
  if (names.sh_offset > image.size() || image.size() - names.sh_offset < names.sh_size)
    return truncated("the section name table");

  const std::string_view wanted = HIVE_MANIFEST_SECTION;
  for (std::size_t i = 0; i < header.e_shnum; ++i) {
    Elf64_Shdr s = section(i);
    if (s.sh_name >= names.sh_size) continue;
    const char* name = reinterpret_cast<const char*>(image.data() + names.sh_offset + s.sh_name);
    if (std::string_view(name, strnlen(name, names.sh_size - s.sh_name)) != wanted) continue;
    if (s.sh_type == SHT_NOBITS || s.sh_offset > image.size() || image.size() - s.sh_offset < s.sh_size)
      return truncated("the hive_manifest section");
    if (s.sh_size < HIVE_MANIFEST_MAGIC_SIZE ||
        std::memcmp(image.data() + s.sh_offset, HIVE_MANIFEST_MAGIC, HIVE_MANIFEST_MAGIC_SIZE) != 0)
      return invalidArgument(
          "bad manifest magic: not a Hive plugin manifest, or one from an incompatible SDK");
    if (s.sh_size < sizeof(HiveManifest))
      return invalidArgument("manifest too small (" + std::to_string(s.sh_size) +
                             " bytes, expected at least " + std::to_string(sizeof(HiveManifest)) + ")");
    HiveManifest raw;
    std::memcpy(&raw, image.data() + s.sh_offset, sizeof raw);
    if (raw.manifest_size < sizeof(HiveManifest) || raw.manifest_size > s.sh_size)
      return invalidArgument("manifest size field " + std::to_string(raw.manifest_size) +
                             " does not match its section");
    PluginManifest m;
    m.abiMajor = raw.abi_major;
    m.abiMinor = raw.abi_minor;
    m.toolchain = field(raw.toolchain);
    m.asioRuntime = field(raw.asio_runtime);
    m.name = field(raw.name);
    m.version = field(raw.version);
    m.description = field(raw.description);
    for (const auto& d : raw.dependencies)
      if (d.name[0] != '\0') m.dependencies.push_back({field(d.name), field(d.range)});
    m.provides = services(raw.provides);
    m.requiredServices = services(raw.requires_services);
    if (m.name.empty()) return invalidArgument("manifest has an empty plugin name");
    return m;
  }
  return invalidArgument("not a Hive plugin: no " + std::string(wanted) + " section");
}

Status checkCompatibility(const PluginManifest& m, const HostAbi& host) {
  const std::string who = m.label() + ": ";
  const std::string hostAbi = std::to_string(host.major) + "." + std::to_string(host.minor);
  if (m.abiMajor != host.major)
    return failedPrecondition(who + "built for SDK ABI " + std::to_string(m.abiMajor) + ".x, host provides " +
                              hostAbi);
  if (m.abiMinor > host.minor)
    return failedPrecondition(who + "built for SDK ABI " + std::to_string(m.abiMajor) + "." +
                              std::to_string(m.abiMinor) + ", newer than the host's " + hostAbi);
  if (m.toolchain != host.toolchain)
    return failedPrecondition(who + "toolchain '" + m.toolchain + "' differs from the host's '" +
                              host.toolchain + "'");
  if (!m.asioRuntime.empty() && m.asioRuntime != host.asioRuntime)
    return failedPrecondition(who + "built against Asio runtime '" + m.asioRuntime + "', host provides '" +
                              host.asioRuntime + "'");
  return okStatus();
}

}  // namespace hive::host
