// hive.auth/1 for API keys. It answers from memory: the whole key table
// (salts and digests, no secrets) is held as an immutable snapshot that
// KeyService replaces when keys change, so a request never waits for the store
// and a refused guess costs one BLAKE2b, as an accepted key does. No separate
// cache of verified keys: with a fast digest, its lookup key would cost what
// the check it saves costs (docs/security.md, "Cost").
//
// Principals: `agent:<name>` for a key of role `agent` (the name it is bound
// to), `key:<id>` for every other key; for a JWT (jwt.hpp) `agent:<sub>` when
// its role is `agent`, `jwt:<sub>` otherwise.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "audit_log.hpp"
#include "hive/services/auth.hpp"
#include "hive/services/secrets.hpp"
#include "hive/services/tenancy.hpp"
#include "jwt.hpp"
#include "key_store.hpp"
#include "rate_limiter.hpp"
#include "roles.hpp"

namespace hive::security_manager {

using Clock = std::function<std::int64_t()>;  // Unix epoch milliseconds

std::int64_t systemNowMs();

// The credential a request presents: `Authorization: Bearer <token>` (scheme
// case-insensitive), else `X-API-Key: <token>`. Empty when neither.
std::string presentedCredential(const http::Request& request);

// The principal name a key authenticates as.
std::string principalOf(const KeyRecord& record);

class KeyAuthenticator final : public auth::Authenticator {
 public:
  KeyAuthenticator(std::shared_ptr<const Roles> roles, std::string pepper, Clock now = systemNowMs,
                   JwtSettings jwt = {});

  // Replaces the whole table (after a refresh) or one key (after a local change).
  void replaceAll(std::vector<KeyRecord> records);
  void upsert(const KeyRecord& record);
  std::size_t size() const;
  // JWKS files that changed are read again (jwt.hpp); lines for the log.
  std::vector<JwtVerifier::KeyChange> reloadChangedJwtKeys() const { return jwt_.reloadChangedKeys(); }
  // Records state-changing and refused requests from now on; with
  // `syncTimeout`, an allowed state-changing request is answered only once its
  // entry is committed (503 when that takes longer). Call before the
  // authenticator is provided.
  void setAudit(std::shared_ptr<AuditLog> audit,
                std::optional<std::chrono::milliseconds> syncTimeout = std::nullopt) {
    audit_ = std::move(audit);
    auditSyncTimeout_ = syncTimeout;
  }
  // Has the bodies of allowed state-changing requests scanned for secrets by
  // this hive.secrets/1 provider (an empty handle: none): findings are
  // audited (outcome `flagged`) and counted, or, when its policy says so,
  // the request is refused (kInvalidArgument, 422; outcome `refused`).
  void setScanner(ServiceHandle<secrets::Vault> scanner) {
    std::lock_guard lock(mutex_);
    scanner_ = std::move(scanner);
  }
  void setScanCounter(Counter& findings) { scanFindings_ = &findings; }
  // Limits requests from now on (rate_limiter.hpp). Call before the
  // authenticator is provided.
  void setRateLimiter(std::shared_ptr<RateLimiter> limiter) { limiter_ = std::move(limiter); }

  // hive::auth::Authenticator
  auth::Decision authorize(const http::Request& request, std::string_view permission) override;

  // hive.tenancy/1: the tenant of `principal` (its key's, or its last JWT's
  // `tenant_claim`) and whether its role spans tenants (grants `tenants:all`,
  // as `admin` does). Unknown: the default tenant, no more.
  tenancy::Scope scopeOf(std::string_view principal) const;
  // hive.projects/1: the project the key of `principal` is bound to; "" when
  // none (a JWT is never bound to one).
  std::string boundProject(std::string_view principal) const;

 private:
  using Table = std::unordered_map<std::string, KeyRecord>;
  // The key `principal` names (key:<id>, or an agent's), or null.
  const KeyRecord* keyOf(const Table& table, std::string_view principal) const;
  std::shared_ptr<const Table> table() const;
  // Records state-changing and refused requests in the audit log; not OK
  // when a synchronous entry could not be written. `findings` names the
  // detectors that matched the body, if any.
  Status audited(const http::Request& request, std::string_view permission, const auth::Decision& decision,
                 const std::string& findings = {});
  // The detectors that find a secret in the request's body ("" when none), and
  // whether the scanner's policy refuses it.
  std::pair<std::string, bool> scanned(const http::Request& request);
  // `role` is set to the caller's role once the credential is verified.
  auth::Decision decide(const http::Request& request, std::string_view permission, std::string& role) const;
  auth::Decision authorizeToken(std::string_view token, std::string_view permission, std::string& role) const;

  std::shared_ptr<const Roles> roles_;
  std::string pepper_;
  Clock now_;
  JwtVerifier jwt_;
  std::shared_ptr<AuditLog> audit_;
  std::optional<std::chrono::milliseconds> auditSyncTimeout_;
  std::shared_ptr<RateLimiter> limiter_;
  Counter* scanFindings_ = nullptr;
  mutable std::mutex mutex_;               // guards table_ and scanner_ (the pointers only)
  ServiceHandle<secrets::Vault> scanner_;  // guards the pointer only; a Table is never changed once published
  std::shared_ptr<const Table> table_;
  // principal -> the scope its last verified JWT gave (a token's claims are not kept otherwise); bounded.
  mutable std::mutex jwtScopesMutex_;
  mutable std::unordered_map<std::string, tenancy::Scope> jwtScopes_;
};

// hive.tenancy/1 over the same keys and tokens.
class KeyTenancy final : public tenancy::Tenancy {
 public:
  explicit KeyTenancy(std::shared_ptr<const KeyAuthenticator> keys) : keys_(std::move(keys)) {}
  tenancy::Scope scopeOf(std::string_view principal) override { return keys_->scopeOf(principal); }

 private:
  std::shared_ptr<const KeyAuthenticator> keys_;
};

}  // namespace hive::security_manager
