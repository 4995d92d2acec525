#include "host/plugin_signature.hpp"

#include <sodium.h>

#include <cctype>
#include <cerrno>
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

}  // namespace

bool decodeBase64(std::string_view text, std::span<unsigned char> out) {
  text = trim(text);
  std::size_t length = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &length, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0)
    return false;
  return length == out.size() && end == text.data() + text.size();
}

Result<std::string> readKeyOrSignatureFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return notFound("cannot read " + path + ": " + std::strerror(errno));
  std::string text(kMaxKeyFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxKeyFileBytes) return invalidArgument(path + ": larger than a key or signature file");
  return text;
}

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
  if (decodeBase64(text, key)) return key;
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
  auto text = readKeyOrSignatureFile(signaturePath);
  if (!text.ok()) return refused(text.status().message());
  std::array<unsigned char, crypto_sign_BYTES> signature{};
  if (!decodeBase64(*text, signature))
    return refused(signaturePath + " is not a signature (expected base64 of 64 bytes)");
  const auto& bytes = *file.bytes;
  for (const PublicKey& key : trust.trustedKeys)
    if (crypto_sign_verify_detached(signature.data(), bytes.data(), bytes.size(), key.data()) == 0)
      return okStatus();
  return refused(
      "the signature in " + signaturePath +
      " does not verify with any trusted key (file changed after signing, or signed with another key)");
}

}  // namespace hive::host
