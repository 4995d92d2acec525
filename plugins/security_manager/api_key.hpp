// API keys: `hive_<id>_<secret>`. The id names the key (it is stored, listed
// and logged); the secret is 32 random bytes from libsodium, shown once when
// the key is made and stored only as a salted, optionally peppered BLAKE2b
// digest.
//
// Why BLAKE2b and not argon2id: a memory-hard hash protects secrets a person
// chose, which a dictionary can guess. A key's secret is 256 random bits:
// nothing to guess, so a slow hash adds no protection to a stolen table, and
// it would hand every caller with a wrong secret a 64 MiB, tens-of-milliseconds
// computation to trigger (the cheapest denial of service there is). The salt
// keeps two deployments' digests of one secret apart; the optional pepper (a
// file on the nodes, never in the store) makes a stolen database alone useless.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hive::security_manager {

inline constexpr std::size_t kIdHexDigits = 16;      // 8 random bytes
inline constexpr std::size_t kSecretHexDigits = 64;  // 32 random bytes
inline constexpr std::size_t kSaltHexDigits = 32;    // 16 random bytes
inline constexpr std::size_t kPepperBytes = 32;

struct PresentedKey {
  std::string id;
  std::string secret;
};

struct NewKey {
  std::string id;
  std::string secret;
  std::string text;  // hive_<id>_<secret>: what the caller keeps
};

// Calls sodium_init() once; false when libsodium cannot start (no entropy).
bool cryptoReady();

// A fresh id and secret. Call cryptoReady() first.
NewKey generateKey();

// nullopt unless `text` is exactly hive_<16 hex>_<64 hex> (lower case).
std::optional<PresentedKey> parseKey(std::string_view text);

// `bytes` random bytes as lower-case hex.
std::string randomHex(std::size_t bytes);

// BLAKE2b-256(salt || secret), keyed with `pepper` when it is not empty, as hex.
// `salt` is hex (kSaltHexDigits); `pepper` raw bytes (0 or kPepperBytes).
std::string secretDigest(std::string_view salt, std::string_view secret, std::string_view pepper);

// Whether `secret` has `storedDigest`, compared in constant time.
bool secretMatches(std::string_view salt, std::string_view secret, std::string_view pepper,
                   std::string_view storedDigest);

}  // namespace hive::security_manager
