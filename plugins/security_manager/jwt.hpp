// JWT bearer tokens (RFC 7519), verified as RFC 8725 asks: the algorithm comes
// from the configured issuer's allow-list, never from the token alone (`none`
// is never accepted, and an issuer with an Ed25519 key cannot be fooled into
// HMAC with that public key as the secret); `exp` is required, `nbf`, `iss`
// and `aud` are checked, with a bounded clock skew; the token's size is bounded
// before anything is decoded.
//
// Supported: HS256 (libsodium crypto_auth_hmacsha256), EdDSA with Ed25519
// (crypto_sign_verify_detached) and RS256 (OpenSSL), the last two also from a
// JWKS file whose keys are chosen by the token's `kid` (jwks.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hive/config.hpp"
#include "hive/status.hpp"
#include "jwks.hpp"

namespace hive::security_manager {

struct JwtIssuer {
  std::string issuer;                   // `iss` must equal it
  std::string audience;                 // `aud` must be it or contain it
  std::string hmacSecret;               // raw bytes, HS256; empty: HS256 not accepted
  std::string ed25519Key;               // 32 raw bytes, EdDSA; empty: EdDSA only from `jwks`
  std::shared_ptr<JwksFile> jwks;       // RS256 and EdDSA keys by kid; null: none
  std::vector<std::string> algorithms;  // allow-list, subset of what the keys allow
  std::string role;         // role of a token without `roleClaim`; empty: such a token is refused (403)
  std::string roleClaim;    // claim naming the role; empty: always `role`
  std::string tenantClaim;  // claim naming the tenant (hive.tenancy/1); empty: the default tenant
};

struct JwtSettings {
  std::vector<JwtIssuer> issuers;
  std::chrono::seconds leeway{60};
  std::size_t maxTokenBytes = 8192;
};

// Reads `jwt:` of the plugin's section (null node: JWT off).
JwtSettings readJwtSettings(const ConfigNode& node, Diagnostics& diagnostics);

struct JwtIdentity {
  std::string issuer;
  std::string subject;
  std::string role;    // may be empty: no role for this token
  std::string tenant;  // "" the default tenant
};

class JwtVerifier {
 public:
  explicit JwtVerifier(JwtSettings settings) : settings_(std::move(settings)) {}

  bool enabled() const { return !settings_.issuers.empty(); }
  // The identity in `token`, or kUnauthenticated with a reason safe to show.
  // `nowSeconds` is Unix time.
  Result<JwtIdentity> verify(std::string_view token, std::int64_t nowSeconds) const;
  // Reads the issuers' JWKS files again where they changed; one line per
  // change, for the log, with whether it loaded (a file that does not leaves
  // its previous keys in use).
  struct KeyChange {
    bool loaded = false;
    std::string line;
  };
  std::vector<KeyChange> reloadChangedKeys() const;

 private:
  JwtSettings settings_;
};

// base64url without padding, as JWT writes it; nullopt for anything else.
std::optional<std::string> base64UrlDecode(std::string_view text);
std::string base64UrlEncode(std::string_view bytes);

}  // namespace hive::security_manager
