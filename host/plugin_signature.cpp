#include "host/plugin_signature.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "host/catalog.hpp"
#include "host/plugin_library.hpp"

namespace hive::host {
namespace {

// A signature or key file is one short line; anything larger is not one.
constexpr std::size_t kMaxKeyFileBytes = 4096;

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

Status ready() {
  if (sodium_init() < 0) return internalError("libsodium failed to initialise");
  return okStatus();
}

// Exactly `size` bytes from base64 text, or nothing.
template <std::size_t N>
bool fromBase64(std::string_view text, std::array<unsigned char, N>& out) {
  std::size_t length = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &length, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0)
    return false;
  return length == N && end == text.data() + text.size();
}

std::string toBase64(const unsigned char* bytes, std::size_t size) {
  std::string out(sodium_base64_encoded_len(size, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes, size, sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

Result<std::string> readSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return notFound("cannot read " + path + ": " + std::strerror(errno));
  std::string text(kMaxKeyFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxKeyFileBytes) return invalidArgument(path + ": larger than a key or signature file");
  return text;
}

// Writes `text` to `path` through a temporary file in the same directory, so
// that a reader sees the old file or the new one, never half of it.
Status writeAtomically(const std::string& path, const std::string& text, mode_t mode) {
  std::string temporary = path + ".tmp" + std::to_string(::getpid());
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return unavailable("cannot create " + temporary + ": " + std::strerror(errno));
  bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  written = ::fsync(fd) == 0 && written;
  ::close(fd);
  if (!written || std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(temporary.c_str());
    return unavailable("cannot write " + path + ": " + why);
  }
  return okStatus();
}

}  // namespace

Result<PublicKey> parsePublicKey(std::string_view text) {
  HIVE_TRY(ready());
  text = trim(text);
  PublicKey key{};
  if (text.size() == 2 * key.size()) {
    std::size_t length = 0;
    const char* end = nullptr;
    if (sodium_hex2bin(key.data(), key.size(), text.data(), text.size(), nullptr, &length, &end) == 0 &&
        length == key.size() && end == text.data() + text.size())
      return key;
  }
  if (fromBase64(text, key)) return key;
  return invalidArgument("not an ed25519 public key (expected base64 of 32 bytes or 64 hex digits)");
}

Status verifyPluginSignature(const PluginFile& file, const PluginTrust& trust) {
  if (!trust.requireSigned) return okStatus();
  HIVE_TRY(ready());
  std::string signaturePath = file.path + ".sig";
  auto refused = [&](const std::string& why) {
    return failedPrecondition(file.path + ": refused (hive.require_signed_plugins): " + why);
  };
  std::error_code missing;
  if (!std::filesystem::exists(signaturePath, missing)) return refused("not signed: no " + signaturePath);
  auto text = readSmallFile(signaturePath);
  if (!text.ok()) return refused(text.status().message());
  std::array<unsigned char, crypto_sign_BYTES> signature{};
  if (!fromBase64(trim(*text), signature))
    return refused(signaturePath + " is not a signature (expected base64 of 64 bytes)");
  const auto& bytes = *file.bytes;
  for (const PublicKey& key : trust.trustedKeys)
    if (crypto_sign_verify_detached(signature.data(), bytes.data(), bytes.size(), key.data()) == 0)
      return okStatus();
  return refused(
      "the signature in " + signaturePath +
      " does not verify with any trusted key (file changed after signing, or signed with another key)");
}

Result<std::string> writeSigningKeyPair(const std::string& secretPath) {
  HIVE_TRY(ready());
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> publicKey{};
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> secretKey{};
  crypto_sign_keypair(publicKey.data(), secretKey.data());
  std::string secretText = toBase64(secretKey.data(), secretKey.size()) + "\n";
  sodium_memzero(secretKey.data(), secretKey.size());
  // O_EXCL: a second keygen must not overwrite the key plugins were signed with.
  int fd = ::open(secretPath.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    sodium_memzero(secretText.data(), secretText.size());
    return alreadyExists("cannot create " + secretPath + ": " + std::strerror(errno));
  }
  bool written = ::write(fd, secretText.data(), secretText.size()) == static_cast<ssize_t>(secretText.size());
  written = ::fsync(fd) == 0 && written;
  ::close(fd);
  sodium_memzero(secretText.data(), secretText.size());
  if (!written) {
    ::unlink(secretPath.c_str());
    return unavailable("cannot write " + secretPath);
  }
  std::string publicText = toBase64(publicKey.data(), publicKey.size());
  HIVE_TRY(writeAtomically(secretPath + ".pub", publicText + "\n", 0644));
  return publicText;
}

Result<std::string> signPluginFile(const std::string& secretKeyPath, const std::string& pluginPath) {
  HIVE_TRY(ready());
  auto text = HIVE_TRY(readSmallFile(secretKeyPath));
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> secretKey{};
  bool parsed = fromBase64(trim(text), secretKey);
  sodium_memzero(text.data(), text.size());
  if (!parsed) return invalidArgument(secretKeyPath + ": not a secret key written by `hive plugin keygen`");
  auto bytes = readPluginFile(pluginPath);
  if (!bytes.ok()) {
    sodium_memzero(secretKey.data(), secretKey.size());
    return bytes.status().withContext(pluginPath);
  }
  std::array<unsigned char, crypto_sign_BYTES> signature{};
  crypto_sign_detached(signature.data(), nullptr, bytes->data(), bytes->size(), secretKey.data());
  sodium_memzero(secretKey.data(), secretKey.size());
  std::string signaturePath = pluginPath + ".sig";
  HIVE_TRY(writeAtomically(signaturePath, toBase64(signature.data(), signature.size()) + "\n", 0644));
  return signaturePath;
}

}  // namespace hive::host
