// The secrets vault: hive.secrets/1 and what its routes and the CLI do. Each
// value is sealed with XChaCha20-Poly1305 (libsodium's IETF AEAD) under the
// current master key, with a random 24-byte nonce and the secret's name as
// associated data (a sealed value copied under another name does not open),
// and stored as one document of the collection `secrets` (hive.store/1): key
// id, nonce and ciphertext, never the value. Nodes sharing a store share the
// secrets; each node needs the master keys they are sealed under.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config.hpp"
#include "hive/services.hpp"
#include "hive/services/secrets.hpp"
#include "hive/services/store.hpp"
#include "scanner.hpp"

namespace hive::security_engine {

inline constexpr const char* kSecretsCollection = "secrets";

// [A-Za-z_][A-Za-z0-9_.-]{0,127}: usable as an environment variable name
// when it has no '.' or '-'.
bool validSecretName(std::string_view name);

struct Sealed {
  std::string keyId;
  std::string nonce;       // raw bytes
  std::string ciphertext;  // raw bytes, the value and its 16-byte tag
};

// Seals `value` under `key` for `name`; opens what was sealed for `name`.
Sealed seal(const MasterKey& key, std::string_view name, std::string_view value);
Result<std::string> open(const MasterKey& key, std::string_view name, const Sealed& sealed);

struct RotationReport {
  std::uint64_t reencrypted = 0;  // moved to the current key
  std::uint64_t current = 0;      // already under it
};

class Vault final : public secrets::Vault {
 public:
  // Without a current master key, reveal() and describe() are kUnavailable;
  // scan() works either way.
  Vault(ServiceHandle<store::Store> store, SecretsSettings settings, std::shared_ptr<const Scanner> scanner);

  // Declares the collection. Blocking.
  Status open();

  // Creates or replaces `name`; `created` tells which. kInvalidArgument for a
  // bad name or an empty or oversized value, kResourceExhausted at
  // max_secrets. Blocking.
  Result<secrets::SecretInfo> put(std::string_view name, std::string_view value, const std::string& by,
                                  bool& created);
  Status remove(std::string_view name);
  Result<std::vector<secrets::SecretInfo>> list();
  // Re-encrypts every value not under the current key. A value under a key no
  // longer configured stops it with kDataLoss (naming the secret and key id);
  // what was re-encrypted before stays re-encrypted. Blocking.
  Result<RotationReport> rotateKey();

  // hive::secrets::Vault
  Result<std::string> reveal(std::string_view name) override;
  Result<secrets::SecretInfo> describe(std::string_view name) override;
  secrets::ScanResult scan(std::string_view text) const override { return scanner_->scan(text); }

 private:
  const MasterKey* keyFor(const std::string& id) const;
  Result<std::string> openDocument(const store::Document& document);

  ServiceHandle<store::Store> store_;
  SecretsSettings settings_;
  std::shared_ptr<const Scanner> scanner_;
};

}  // namespace hive::security_engine
