// The `security_manager:` config section, read and checked once.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "hive/config.hpp"
#include "jwt.hpp"
#include "rate_limiter.hpp"
#include "roles.hpp"

namespace hive::security_manager {

struct Settings {
  // Custom roles (name -> permission patterns), next to the built-in ones.
  std::map<std::string, PermissionSet, std::less<>> roles;
  // How often the key table is checked for changes made elsewhere (another
  // node, the CLI): the longest a revocation there takes to apply here.
  std::chrono::milliseconds refreshInterval{1000};
  // Keys in the store at most (revoked ones count until deleted).
  std::size_t maxKeys = 10000;
  // 32 raw bytes read from `pepper_file`; empty = no pepper.
  std::string pepper;
  // Audit entries waiting to be written at most (beyond: dropped, counted),
  // and how often they are written.
  std::size_t auditMaxPending = 65536;
  std::chrono::milliseconds auditFlushInterval{200};
  // Allowed state-changing requests wait until their audit entry is committed
  // (at most auditSyncTimeout, then 503), so no answered request loses its
  // entry in a crash. false: they are queued like the rest.
  bool auditSync = true;
  std::chrono::milliseconds auditSyncTimeout{2000};
  // `audit_retention: {keep, batch, period}`: entries older than `keep` are
  // deleted every `period`, `batch` at a time. No keep: kept for ever.
  struct AuditRetention {
    std::optional<std::chrono::milliseconds> keep;
    std::size_t batch = 10000;
    std::chrono::milliseconds period{std::chrono::hours(1)};
  } auditRetention;
  // JWT bearer tokens (jwt.hpp); no issuers: only API keys are accepted.
  JwtSettings jwt;
  // Per-principal request limits (rate_limiter.hpp).
  RateLimitSettings rateLimits;
};

Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics);

// "30d", "12h", "90m", "3600s" -> milliseconds; nullopt when not such a
// duration or over 100 years (the CLI's --expires, the API's expires_in).
std::optional<std::chrono::milliseconds> parseLifetime(std::string_view text);

}  // namespace hive::security_manager
