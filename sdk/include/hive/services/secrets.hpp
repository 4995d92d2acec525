// hive.secrets/1 — named secret values (tokens, passwords) that plugins read
// by name instead of carrying them in config, payloads or results. Provided by
// security_engine: values are encrypted at rest under a master key kept out of
// the store (docs/security.md, "Secrets").
//
// Values are written by operators (REST PUT /api/v2/secrets/{name}, `hive
// secrets set`), not through this interface: a plugin only reads. A caller
// must never log, store, publish or return a value it got here. scan() finds
// token-like strings in text that should hold none (request bodies).
#pragma once

#include <cstddef>
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

// A token-like string found by scan(): which detector, and where. Never the
// text it matched.
struct ScanFinding {
  std::string detector;    // "aws_access_key_id", "github_token", or a configured name
  std::size_t offset = 0;  // byte offset in the scanned text
};

struct ScanResult {
  std::vector<ScanFinding> findings;  // in order of offset
  bool refuse = false;                // the provider's policy: the caller should refuse the text
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

  // Token patterns (cloud keys, API tokens, private keys: the provider's
  // configured detectors) in `text`, and whether its policy is to refuse
  // such text or only to warn. Looks at the first bytes only, up to the
  // provider's limit. Never blocks (no store access), thread-safe: callable
  // on an I/O thread, e.g. for request bodies.
  virtual ScanResult scan(std::string_view text) const = 0;
};

}  // namespace hive::secrets
