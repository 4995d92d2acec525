// Rate limits per principal: a token bucket per (principal, route class) and,
// where configured, per (principal, permission) — the hourly quota of
// `tasks:write`, say — plus one per remote address for failed
// authentications, so that guessing keys costs time. Checked in
// KeyAuthenticator::authorize, i.e. for every request to a route that names a
// permission; public routes are never limited.
//
// A bucket holds up to `burst` tokens and gains `rate` per second; a request
// takes one or is refused with the time until one is there. Local buckets live
// in this process and start full after a restart or config reload.
//
// With `redis:` configured the budget is shared by every node (redis_buckets.hpp,
// GCRA in Redis) and the local buckets stay in front of it:
// - A request is checked against the local buckets first. They are drawn only
//   when Redis admits, so they count a subset of what Redis counts and are
//   never emptier: a local refusal is one Redis would give too, without the
//   round trip (its Retry-After may be shorter than Redis's; the retry then
//   gets Redis's).
// - A Redis refusal empties the local bucket until its wait is over, so a
//   caller who keeps knocking is refused here without asking Redis again.
// - Leases: a draw may ask Redis for several cells and get those that fit (at
//   least one); the node keeps the rest for `lease` and admits this
//   principal's next requests with them, without a round trip. The size starts
//   at 1, doubles while leases run out before their end (a busy caller) up to
//   rate × `lease` (at most half the burst, 64), and halves when one ends
//   unused, so a slow caller asks for one cell per request (exact) and wastes
//   none. Every cell is paid in Redis before it is used, so the budget holds
//   across nodes; a cell may be used up to `lease` after it was drawn, and
//   cells a node leased but did not use are lost to the others until they
//   refill (at most one lease per node and bucket).
// - Redis unreachable, slow or paused after a failure: the local buckets
//   decide alone (each node its own budget, never no limit).
// - Failed authentications: addressBlocked() asks only the local bucket (no
//   round trip for ordinary requests); failedFrom() draws in Redis too, and a
//   Redis refusal (the address spent the shared budget, on any node) empties
//   the local bucket, so each node lets at most one more guess through.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "hive/config.hpp"
#include "hive/metrics.hpp"
#include "redis_buckets.hpp"

namespace hive::security_manager {

struct RateLimit {
  double perSecond = 0;
  double burst = 0;
};

// nullopt = not limited ("off").
using LimitSetting = std::optional<RateLimit>;
// read, write, or a permission name -> its limit.
using LimitTable = std::map<std::string, LimitSetting, std::less<>>;

struct RateLimitSettings {
  bool enabled = true;
  LimitTable defaults{{"read", RateLimit{100, 200}}, {"write", RateLimit{50, 100}}};
  LimitSetting failedAuth = RateLimit{10, 100};               // per remote address
  std::map<std::string, LimitTable, std::less<>> roles;       // role -> overrides
  std::map<std::string, LimitTable, std::less<>> principals;  // principal -> overrides
  std::size_t maxTracked = 100000;                            // buckets held at most
  std::optional<SharedLimitSettings> shared;                  // `redis:`: budgets shared by the nodes
};

// Reads the `rate_limits:` map; errors at their file:line:col.
RateLimitSettings readRateLimits(const ConfigNode& node, Diagnostics& diagnostics);

// What a refused request is told (RFC 6585 429, Retry-After, RateLimit-*).
struct Limited {
  std::string bucket;  // "read", "write", a permission, or "failed_auth"
  double limit = 0;    // the bucket's burst
  std::int64_t retryAfterSeconds = 1;
};

class RateLimiter {
 public:
  // `shared`: the buckets in Redis when settings.shared is set (the plugin
  // makes them; null = every node on its own).
  RateLimiter(RateLimitSettings settings, Counter& limited, std::unique_ptr<RedisBuckets> shared = nullptr);

  // Takes one token from each bucket of this request (its class, read or
  // write by the permission's action, and its permission when one is
  // configured); nothing when a bucket is empty, and the answer says which.
  std::optional<Limited> take(std::string_view principal, std::string_view role, std::string_view permission,
                              std::int64_t nowMs);
  // Before checking credentials: is this address out of failed attempts?
  std::optional<Limited> addressBlocked(std::string_view address, std::int64_t nowMs);
  // After a refused credential: one token less for the address.
  void failedFrom(std::string_view address, std::int64_t nowMs);

  std::size_t tracked() const;

 private:
  struct Bucket {
    double tokens = 0;
    std::int64_t atMs = 0;
    RateLimit limit;  // as drawn last (a config reload starts a new limiter)
    // Shared mode: cells drawn from Redis by an earlier request's lease, not
    // used yet, usable until leasedUntilMs.
    std::int64_t leased = 0;
    std::int64_t leasedUntilMs = 0;
    std::int64_t nextLease = 1;  // cells to ask for next: doubles while leases run out in time
  };
  LimitSetting limitFor(std::string_view principal, std::string_view role, std::string_view name) const;
  // Refills, then takes `take` tokens when there are; nullopt when taken.
  std::optional<Limited> draw(const std::string& key, std::string_view name, const RateLimit& limit,
                              std::int64_t nowMs, bool take);
  // What Redis refused: the local bucket holds no token for `waitMs`.
  void emptyFor(const std::string& key, const RateLimit& limit, std::int64_t nowMs, std::int64_t waitMs);
  // Takes one leased cell of the bucket when it has one still valid.
  bool takeLeased(const std::string& key, const RateLimit& limit, std::int64_t nowMs);
  // Cells to ask Redis for now: twice the last lease when it ran out before its
  // end (a busy caller), half of it otherwise; 1 to leaseCap().
  std::int64_t leaseWanted(const std::string& key, const RateLimit& limit, std::int64_t nowMs);
  // `granted` cells drawn in Redis, one of them used by this request.
  void addLeased(const std::string& key, const RateLimit& limit, std::int64_t nowMs, std::int64_t granted);
  // The largest lease: rate × lease, at least 1, at most half the burst and 64.
  std::int64_t leaseCap(const RateLimit& limit) const;
  Bucket* bucket(const std::string& key, const RateLimit& limit, std::int64_t nowMs);

  RateLimitSettings settings_;
  Counter& limited_;
  std::unique_ptr<RedisBuckets> shared_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;  // guarded by mutex_
};

// "read" for a permission whose action is read, "write" otherwise.
std::string_view routeClass(std::string_view permission);

// The host part of "ip:port" or "[v6]:port".
std::string_view addressOf(std::string_view remote);

}  // namespace hive::security_manager
