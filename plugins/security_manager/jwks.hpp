// JSON Web Key Sets (RFC 7517) for JWT issuers: RSA keys for RS256 and
// Ed25519 (OKP) keys for EdDSA, each named by its `kid`, read from a file
// that is looked at again when it changes (an identity provider's keys
// rotate). OpenSSL's libcrypto stays behind RsaPublicKey.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hive/status.hpp"

namespace hive::security_manager {

inline constexpr int kMinRsaBits = 2048;  // RFC 7518 3.3

class RsaPublicKey {
 public:
  // The key of a JWK's `n` and `e` (base64url big-endian integers).
  static Result<RsaPublicKey> fromComponents(std::string_view modulus, std::string_view exponent);
  // RSASSA-PKCS1-v1_5 with SHA-256 (RS256).
  bool verifySha256(std::string_view message, std::string_view signature) const;
  int bits() const;

 private:
  std::shared_ptr<void> key_;  // EVP_PKEY
};

struct Jwk {
  enum class Type { kRsa, kEd25519 };
  Type type = Type::kRsa;
  std::string kid;      // may be empty
  std::string alg;      // the JWK's `alg`, when it names one
  RsaPublicKey rsa;     // kRsa
  std::string ed25519;  // kEd25519: 32 raw bytes
};

using JwkSet = std::vector<Jwk>;

// {"keys": [...]}: RSA and OKP/Ed25519 keys with `use` absent or "sig"; other
// key types (EC, oct, ...) are skipped. Refused: not such an object, a key of
// a supported type that is malformed or an RSA key under 2048 bits, two keys
// with one kid, no usable key at all.
Result<JwkSet> parseJwks(std::string_view text);

// The key for a token: the one whose kid is `kid`, of the type `algorithm`
// needs (RS256: RSA, EdDSA: Ed25519) and whose `alg`, if any, is `algorithm`.
// Without a kid, the only key of that type. kUnauthenticated otherwise.
Result<const Jwk*> selectKey(const JwkSet& keys, std::string_view kid, std::string_view algorithm);

class JwksFile {
 public:
  // Reads `path`; its errors name the file.
  static Result<std::shared_ptr<JwksFile>> open(std::string path);

  std::shared_ptr<const JwkSet> keys() const;
  // Reads the file again when it changed (inode, size, modification time):
  // nullopt when it did not; OK when the new keys are in use; an error when
  // they could not be read, and the previous keys stay in use (the same
  // change is not reported twice).
  std::optional<Status> reloadIfChanged();
  const std::string& path() const { return path_; }

 private:
  struct Stamp {
    std::uint64_t inode = 0, size = 0;
    std::int64_t modifiedNs = 0;
    bool operator==(const Stamp&) const = default;
  };
  explicit JwksFile(std::string path) : path_(std::move(path)) {}
  Result<std::shared_ptr<const JwkSet>> read(Stamp& stamp) const;

  std::string path_;
  mutable std::mutex mutex_;
  std::shared_ptr<const JwkSet> keys_;  // guarded by mutex_
  Stamp stamp_;                         // guarded by mutex_: of the last file looked at
};

}  // namespace hive::security_manager
