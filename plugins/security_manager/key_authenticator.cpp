#include "key_authenticator.hpp"

#include <chrono>
#include <tuple>

#include "api_key.hpp"
#include "plugin_common/agent_principal.hpp"

namespace hive::security_manager {
namespace {

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

auth::Decision refuse(StatusCode code, std::string reason, std::string principal = {}) {
  auth::Decision decision;
  decision.allowed = false;
  decision.code = code;
  decision.reason = std::move(reason);
  decision.principal = std::move(principal);
  return decision;
}

// hive.auth/1's Decision has no headers yet (SDK ABI 2.3): a
// kResourceExhausted refusal carries the problem detail on its first line and
// the headers of the 429 as "name: value" lines after it, which the api sends
// (plugins/api/dispatcher.cpp).
auth::Decision rateLimited(const Limited& limited, std::string principal) {
  std::string retry = std::to_string(limited.retryAfterSeconds);
  auto burst = static_cast<std::int64_t>(limited.limit);
  return refuse(StatusCode::kResourceExhausted,
                "rate limit '" + limited.bucket + "' exceeded (" + std::to_string(burst) +
                    " at most at once); retry in " + retry + " s\nretry-after: " + retry +
                    "\nratelimit-limit: " + std::to_string(burst) +
                    "\nratelimit-remaining: 0\nratelimit-reset: " + retry,
                std::move(principal));
}

}  // namespace

std::int64_t systemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string presentedCredential(const http::Request& request) {
  if (const std::string* header = request.header("authorization")) {
    std::string_view value = trim(*header);
    std::size_t space = value.find(' ');
    if (space != std::string_view::npos && equalsIgnoringCase(value.substr(0, space), "bearer"))
      return std::string(trim(value.substr(space + 1)));
    return {};
  }
  if (const std::string* header = request.header("x-api-key")) return std::string(trim(*header));
  return {};
}

// JWT principals whose scope is kept (hive.tenancy/1); past it the table starts again.
constexpr std::size_t kMaxJwtScopes = 10000;

std::string principalOf(const KeyRecord& record) {
  return record.role == "agent" ? plugin_common::agentPrincipal(record.agent, record.tenant)
                                : "key:" + record.id;
}

KeyAuthenticator::KeyAuthenticator(std::shared_ptr<const Roles> roles, std::string pepper, Clock now,
                                   JwtSettings jwt)
    : roles_(std::move(roles)),
      pepper_(std::move(pepper)),
      now_(std::move(now)),
      jwt_(std::move(jwt)),
      table_(std::make_shared<const Table>()) {}

void KeyAuthenticator::replaceAll(std::vector<KeyRecord> records) {
  auto table = std::make_shared<Table>();
  for (auto& record : records) {
    std::string id = record.id;
    table->emplace(std::move(id), std::move(record));
  }
  std::lock_guard lock(mutex_);
  table_ = std::move(table);
}

void KeyAuthenticator::upsert(const KeyRecord& record) {
  std::lock_guard lock(mutex_);
  auto table = std::make_shared<Table>(*table_);
  (*table)[record.id] = record;
  table_ = std::move(table);
}

std::size_t KeyAuthenticator::size() const { return table()->size(); }

std::shared_ptr<const KeyAuthenticator::Table> KeyAuthenticator::table() const {
  std::lock_guard lock(mutex_);
  return table_;
}

auth::Decision KeyAuthenticator::authorize(const http::Request& request, std::string_view permission) {
  // Public routes are neither limited nor audited: /livez probes would drown both.
  bool limited = limiter_ && !permission.empty();
  std::string_view address = addressOf(request.remoteAddress);
  // An address out of failed attempts is refused before any hashing.
  if (limited)
    if (auto refused = limiter_->addressBlocked(address, now_())) return rateLimited(*refused, {});
  std::string role;
  auth::Decision decision = decide(request, permission, role);
  if (limited && decision.allowed) {
    if (auto refused = limiter_->take(decision.principal, role, permission, now_()))
      return rateLimited(*refused, decision.principal);
  } else if (limited && decision.code == StatusCode::kUnauthenticated) {
    limiter_->failedFrom(address, now_());
  }
  std::string findings;
  // The vault's own writes carry secrets by design.
  if (decision.allowed && !permission.empty() && permission != "secrets:write") {
    bool refusing = false;
    std::tie(findings, refusing) = scanned(request);
    if (refusing) {
      auth::Decision refused =
          refuse(StatusCode::kInvalidArgument,
                 "the body holds what looks like a secret (" + findings +
                     "); store it with PUT /api/v2/secrets/{name} and refer to it by name",
                 decision.principal);
      if (Status recorded = audited(request, permission, refused, findings); !recorded.ok())
        return refuse(StatusCode::kUnavailable, "the audit log cannot record this request now; retry later",
                      decision.principal);
      return refused;
    }
  }
  if (Status recorded = audited(request, permission, decision, findings); !recorded.ok())
    return refuse(StatusCode::kUnavailable, "the audit log cannot record this request now; retry later",
                  decision.principal);
  return decision;
}

std::pair<std::string, bool> KeyAuthenticator::scanned(const http::Request& request) {
  if (request.body.empty()) return {};
  ServiceHandle<secrets::Vault> handle;
  {
    std::lock_guard lock(mutex_);
    handle = scanner_;
  }
  auto scanner = handle.lease();
  if (!scanner) return {};
  secrets::ScanResult result = scanner->scan(request.body);
  if (result.findings.empty()) return {};
  if (scanFindings_ != nullptr) scanFindings_->increment(static_cast<double>(result.findings.size()));
  std::string names;
  for (const auto& finding : result.findings)
    names += (names.empty() ? "" : ", ") + finding.detector + " at byte " + std::to_string(finding.offset);
  return {names, result.refuse};
}

Status KeyAuthenticator::audited(const http::Request& request, std::string_view permission,
                                 const auth::Decision& decision, const std::string& findings) {
  bool reads = request.method == "GET" || request.method == "HEAD" || request.method == "OPTIONS";
  if (audit_ && !permission.empty() && (!decision.allowed || !reads || !findings.empty())) {
    AuditEntry entry;
    entry.atMs = now_();
    entry.principal = decision.principal.empty() ? "anonymous" : decision.principal;
    entry.action = request.method + " " + request.path;
    entry.permission = std::string(permission);
    entry.outcome = decision.allowed ? (findings.empty() ? "allowed" : "flagged")
                    : decision.code == StatusCode::kPermissionDenied ? "denied"
                    : decision.code == StatusCode::kInvalidArgument  ? "refused"
                                                                     : "unauthenticated";
    if (!findings.empty()) entry.target = "secret-like: " + findings;
    entry.remote = request.remoteAddress;
    entry.requestId = request.requestId;
    if (decision.allowed) {
      entry.tenant = scopeOf(decision.principal).tenant;
      entry.project = boundProject(decision.principal);
    }
    // Refusals stay queued: a flood of them must not hold I/O threads.
    if (decision.allowed && auditSyncTimeout_)
      return audit_->recordDurably(std::move(entry), *auditSyncTimeout_);
    audit_->record(std::move(entry));
  }
  return okStatus();
}

auth::Decision KeyAuthenticator::decide(const http::Request& request, std::string_view permission,
                                        std::string& role) const {
  std::string credential = presentedCredential(request);
  if (credential.empty())
    return refuse(StatusCode::kUnauthenticated,
                  "credentials required: send Authorization: Bearer <key> or X-API-Key: <key>");
  auto key = parseKey(credential);
  if (!key && jwt_.enabled() && credential.rfind("hive_", 0) != 0)
    return authorizeToken(credential, permission, role);
  if (!key) return refuse(StatusCode::kUnauthenticated, "not an API key (hive_<id>_<secret>)");
  auto table = this->table();
  auto found = table->find(key->id);
  // One answer for an unknown, revoked or wrong key: the caller learns nothing
  // about which ids exist.
  if (found == table->end() || found->second.revokedAtMs != 0 ||
      !secretMatches(found->second.salt, key->secret, pepper_, found->second.digest))
    return refuse(StatusCode::kUnauthenticated, "invalid or revoked API key");
  const KeyRecord& record = found->second;
  if (record.expiresAtMs != 0 && now_() >= record.expiresAtMs)
    return refuse(StatusCode::kUnauthenticated, "API key expired");
  std::string principal = principalOf(record);
  role = record.role;
  if (!permission.empty() && !roles_->allows(record.role, permission))
    return refuse(StatusCode::kPermissionDenied,
                  "role '" + record.role + "' does not grant '" + std::string(permission) + "'", principal);
  auth::Decision decision;
  decision.allowed = true;
  decision.principal = std::move(principal);
  return decision;
}

auth::Decision KeyAuthenticator::authorizeToken(std::string_view token, std::string_view permission,
                                                std::string& role) const {
  auto identity = jwt_.verify(token, now_() / 1000);
  if (!identity.ok()) return refuse(StatusCode::kUnauthenticated, identity.status().message());
  std::string principal = identity->role == "agent"
                              ? plugin_common::agentPrincipal(identity->subject, identity->tenant)
                              : "jwt:" + identity->subject;
  role = identity->role;
  if (identity->role.empty() || !roles_->known(identity->role))
    return refuse(StatusCode::kPermissionDenied, "the token's role is missing or unknown", principal);
  if (!permission.empty() && !roles_->allows(identity->role, permission))
    return refuse(StatusCode::kPermissionDenied,
                  "role '" + identity->role + "' does not grant '" + std::string(permission) + "'",
                  principal);
  {
    std::lock_guard lock(jwtScopesMutex_);
    if (jwtScopes_.size() >= kMaxJwtScopes && !jwtScopes_.contains(principal)) jwtScopes_.clear();
    jwtScopes_[principal] = {identity->tenant, roles_->allows(identity->role, "tenants:all")};
  }
  auth::Decision decision;
  decision.allowed = true;
  decision.principal = std::move(principal);
  return decision;
}

const KeyRecord* KeyAuthenticator::keyOf(const Table& table, std::string_view principal) const {
  if (principal.starts_with("key:")) {
    if (auto found = table.find(std::string(principal.substr(4))); found != table.end())
      return &found->second;
  } else if (auto agent = plugin_common::agentOfPrincipal(principal); !agent.name.empty()) {
    for (const auto& [id, record] : table)
      if (record.role == "agent" && record.agent == agent.name && record.tenant == agent.tenant &&
          record.revokedAtMs == 0)
        return &record;
  }
  return nullptr;
}

tenancy::Scope KeyAuthenticator::scopeOf(std::string_view principal) const {
  if (auto acting = tenancy::actingScope(principal)) return *acting;
  {
    std::lock_guard lock(jwtScopesMutex_);
    if (auto found = jwtScopes_.find(std::string(principal)); found != jwtScopes_.end()) return found->second;
  }
  auto table = this->table();
  if (const KeyRecord* record = keyOf(*table, principal))
    return tenancy::Scope{record->tenant, roles_->allows(record->role, "tenants:all")};
  return {};
}

std::string KeyAuthenticator::boundProject(std::string_view principal) const {
  auto table = this->table();
  const KeyRecord* record = keyOf(*table, principal);
  return record ? record->project : std::string();
}

}  // namespace hive::security_manager
