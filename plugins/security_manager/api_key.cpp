#include "api_key.hpp"

#include <sodium.h>

#include <algorithm>

namespace hive::security_manager {
namespace {

bool isLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string toHex(const unsigned char* bytes, std::size_t size) {
  std::string hex(size * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), bytes, size);
  hex.pop_back();
  return hex;
}

}  // namespace

bool cryptoReady() {
  static const bool kReady = sodium_init() >= 0;
  return kReady;
}

std::string randomHex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string hex = toHex(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  sodium_memzero(raw.data(), raw.size());
  return hex;
}

NewKey generateKey() {
  NewKey key;
  key.id = randomHex(kIdHexDigits / 2);
  key.secret = randomHex(kSecretHexDigits / 2);
  key.text = "hive_" + key.id + "_" + key.secret;
  return key;
}

std::optional<PresentedKey> parseKey(std::string_view text) {
  constexpr std::string_view kPrefix = "hive_";
  if (text.size() != kPrefix.size() + kIdHexDigits + 1 + kSecretHexDigits) return std::nullopt;
  if (text.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::string_view id = text.substr(kPrefix.size(), kIdHexDigits);
  if (text[kPrefix.size() + kIdHexDigits] != '_') return std::nullopt;
  std::string_view secret = text.substr(kPrefix.size() + kIdHexDigits + 1);
  if (!isLowerHex(id) || !isLowerHex(secret)) return std::nullopt;
  return PresentedKey{std::string(id), std::string(secret)};
}

std::string secretDigest(std::string_view salt, std::string_view secret, std::string_view pepper) {
  unsigned char digest[32];
  crypto_generichash_state state;
  crypto_generichash_init(&state,
                          pepper.empty() ? nullptr : reinterpret_cast<const unsigned char*>(pepper.data()),
                          pepper.size(), sizeof digest);
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(salt.data()), salt.size());
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  crypto_generichash_final(&state, digest, sizeof digest);
  return toHex(digest, sizeof digest);
}

bool secretMatches(std::string_view salt, std::string_view secret, std::string_view pepper,
                   std::string_view storedDigest) {
  std::string digest = secretDigest(salt, secret, pepper);
  if (digest.size() != storedDigest.size()) return false;
  return sodium_memcmp(digest.data(), storedDigest.data(), digest.size()) == 0;
}

}  // namespace hive::security_manager
