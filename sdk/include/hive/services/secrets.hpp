// hive.secrets/1 — named secret values (tokens, passwords) that plugins read
// by name instead of carrying them in config, payloads or results. Provided by
// security_engine: values are encrypted at rest under a master key kept out of
// the store (docs/security.md, "Secrets").
//
// Values are written by operators (REST PUT /api/v2/secrets/{name}, `hive
// secrets set`), not through this interface: a plugin only reads. A caller
// must never log, store, publish or return a value it got here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hive/services.hpp"
#include "hive/status.hpp"

namespace hive::secrets {

// What may be known about a secret without its value.
struct SecretInfo {
  std::string name;              // [A-Za-z_][A-Za-z0-9_.-]{0,127}
  std::uint64_t version = 0;     // 1 when created, +1 on every change (rotation included)
  std::string keyId;             // which master key encrypts it (16 hex digits)
  std::int64_t createdAtMs = 0;  // Unix epoch milliseconds
  std::int64_t updatedAtMs = 0;
  std::string updatedBy;  // the principal that last set it
};

class Vault : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.secrets", 1};

  // The value of `name`, decrypted. kNotFound when there is no such secret,
  // kInvalidArgument for a malformed name, kDataLoss when the stored value
  // does not decrypt (tampered, or encrypted under a key no longer
  // configured). Blocking (it reads the store): call it on the blocking
  // executor. Thread-safe.
  virtual Result<std::string> reveal(std::string_view name) = 0;

  // The secret's metadata; never the value. Blocking, thread-safe.
  virtual Result<SecretInfo> describe(std::string_view name) = 0;
};

}  // namespace hive::secrets
