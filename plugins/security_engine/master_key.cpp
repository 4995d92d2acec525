#include "master_key.hpp"

#include <sodium.h>
#include <sys/stat.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>

namespace hive::security_engine {
namespace {

constexpr std::string_view kIdContext = "hive.secrets key id";

std::string keyId(std::string_view key) {
  unsigned char digest[8];
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, sizeof digest);
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(kIdContext.data()),
                            kIdContext.size());
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_generichash_final(&state, digest, sizeof digest);
  char hex[sizeof digest * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

}  // namespace

MasterKey& MasterKey::operator=(const MasterKey& other) {
  if (this != &other) {
    wipe();
    bytes_ = other.bytes_;
    id_ = other.id_;
  }
  return *this;
}

MasterKey::MasterKey(MasterKey&& other) noexcept : bytes_(other.bytes_), id_(std::move(other.id_)) {
  other.wipe();
}

MasterKey& MasterKey::operator=(MasterKey&& other) noexcept {
  if (this != &other) {
    wipe();
    bytes_ = other.bytes_;
    id_ = std::move(other.id_);
    other.wipe();
  }
  return *this;
}

void MasterKey::wipe() {
  if (!bytes_.empty()) sodium_memzero(bytes_.data(), bytes_.size());
  bytes_.clear();
  id_.clear();
}

Result<MasterKey> MasterKey::fromHex(std::string_view text) {
  if (sodium_init() < 0) return unavailable("libsodium cannot start");
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  if (text.size() != kMasterKeyBytes * 2 ||
      text.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
    return invalidArgument("a master key is 64 hex digits (32 bytes)");
  MasterKey key;
  key.bytes_.resize(kMasterKeyBytes);
  std::size_t length = 0;
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(key.bytes_.data()), kMasterKeyBytes, text.data(),
                     text.size(), nullptr, &length, nullptr) != 0 ||
      length != kMasterKeyBytes)
    return invalidArgument("a master key is 64 hex digits (32 bytes)");
  key.id_ = keyId(key.bytes_);
  return key;
}

Result<MasterKey> MasterKey::fromFile(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return notFound("cannot read " + path);
  // A secret others can read is refused rather than trusted.
  if ((info.st_mode & 077) != 0)
    return Status(StatusCode::kPermissionDenied, path + " is readable by others; chmod 600 it");
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto key = fromHex(text);
  sodium_memzero(text.data(), text.size());
  if (!key.ok()) return invalidArgument(path + ": " + key.status().message());
  return key;
}

Result<MasterKey> MasterKey::fromEnvironment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr || *value == '\0') return notFound("the environment variable " + name + " is not set");
  auto key = fromHex(value);
  if (!key.ok()) return invalidArgument(name + ": " + key.status().message());
  return key;
}

}  // namespace hive::security_engine
