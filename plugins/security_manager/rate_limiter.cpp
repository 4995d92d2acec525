#include "rate_limiter.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <span>
#include <vector>

#include "plugin_common/redis_url.hpp"
#include "roles.hpp"

namespace hive::security_manager {
namespace {

constexpr const char* kFailedAuth = "failed_auth";

// "100/s", "600/m", "1000/h", or a number (per second) -> per second.
std::optional<double> parseRate(const std::string& text) {
  std::size_t slash = text.find('/');
  double amount = 0;
  auto [end, error] =
      std::from_chars(text.data(), text.data() + (slash == std::string::npos ? text.size() : slash), amount);
  if (error != std::errc() || end != text.data() + (slash == std::string::npos ? text.size() : slash) ||
      !(amount > 0) || !std::isfinite(amount))
    return std::nullopt;
  if (slash == std::string::npos) return amount;
  std::string unit = text.substr(slash + 1);
  double seconds = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : 0;
  if (seconds == 0) return std::nullopt;
  return amount / seconds;
}

// `{rate: 100/s, burst: 200}` or `off`.
std::optional<LimitSetting> readLimit(const ConfigNode& node, std::string_view name,
                                      Diagnostics& diagnostics) {
  if (node.isScalar() && node.text() == "off") return LimitSetting{};
  if (!node.isMap()) {
    diagnostics.error(node.location(),
                      "'" + std::string(name) + "': expected {rate: N/s|N/m|N/h, burst: N} or off");
    return std::nullopt;
  }
  ConfigReader reader(node, diagnostics);
  std::size_t errors = diagnostics.errorCount();
  std::string rateText = reader.require<std::string>("rate");
  auto rate = parseRate(rateText);
  if (!rate && diagnostics.errorCount() == errors)
    reader.reject("rate", "expected N/s, N/m or N/h with N > 0 (or a number per second), got " + rateText);
  double burst = reader.getInRange<double>("burst", rate ? std::max(1.0, std::ceil(*rate)) : 1.0, 1, 1e9);
  reader.finish();
  if (!rate || diagnostics.errorCount() != errors) return std::nullopt;
  return LimitSetting{RateLimit{*rate, burst}};
}

bool knownBucketName(std::string_view name) {
  return name == "read" || name == "write" || validPermissionPattern(name);
}

void readTable(const ConfigNode& node, LimitTable& table, Diagnostics& diagnostics) {
  if (!node.isMap()) {
    diagnostics.error(node.location(), "expected a map of read, write or a permission to a limit");
    return;
  }
  for (const auto& entry : node.entries()) {
    if (!knownBucketName(entry.key) || entry.key.find('*') != std::string::npos) {
      diagnostics.error(entry.keyLocation,
                        "'" + entry.key + "': expected read, write or a permission (resource:action)");
      continue;
    }
    if (auto limit = readLimit(entry.value, entry.key, diagnostics)) table[entry.key] = *limit;
  }
}

void readOverrides(const ConfigNode& node, std::string_view what,
                   std::map<std::string, LimitTable, std::less<>>& out, Diagnostics& diagnostics) {
  if (node.isNull()) return;
  if (!node.isMap()) {
    diagnostics.error(node.location(), "'" + std::string(what) + "': expected a map");
    return;
  }
  for (const auto& entry : node.entries()) readTable(entry.value, out[entry.key], diagnostics);
}

// `redis: {url, key_prefix, timeout, connections, retry_interval}`.
std::optional<SharedLimitSettings> readShared(const ConfigNode& node, Diagnostics& diagnostics) {
  using std::chrono::milliseconds;
  if (node.isNull()) return std::nullopt;
  if (!node.isMap()) {
    diagnostics.error(node.location(),
                      "'redis': expected {url: redis://host:port[/db], key_prefix: ..., ...}");
    return std::nullopt;
  }
  ConfigReader reader(node, diagnostics);
  std::size_t errors = diagnostics.errorCount();
  SharedLimitSettings shared;
  std::string url = reader.require<std::string>("url");
  if (diagnostics.errorCount() == errors) {
    // The message never quotes the URL: it may hold a password.
    if (auto endpoint = plugin_common::parseRedisUrl(url); endpoint.ok())
      shared.endpoint = *endpoint;
    else
      reader.reject("url", endpoint.status().message());
  }
  shared.keyPrefix = reader.get<std::string>("key_prefix", shared.keyPrefix);
  bool printable = std::all_of(shared.keyPrefix.begin(), shared.keyPrefix.end(),
                               [](char c) { return c > ' ' && c < 127; });
  if (shared.keyPrefix.empty() || shared.keyPrefix.size() > 64 || !printable)
    reader.reject("key_prefix", "expected 1 to 64 printable characters without spaces");
  shared.timeout =
      reader.getInRange<milliseconds>("timeout", shared.timeout, milliseconds(1), milliseconds(1000));
  shared.connections = static_cast<std::size_t>(
      reader.getInRange<std::int64_t>("connections", static_cast<std::int64_t>(shared.connections), 1, 64));
  shared.retryInterval = reader.getInRange<milliseconds>("retry_interval", shared.retryInterval,
                                                         milliseconds(100), milliseconds(60'000));
  shared.lease = reader.getInRange<milliseconds>("lease", shared.lease, milliseconds(0), milliseconds(1000));
  reader.finish();
  if (diagnostics.errorCount() != errors) return std::nullopt;
  return shared;
}

}  // namespace

RateLimitSettings readRateLimits(const ConfigNode& node, Diagnostics& diagnostics) {
  RateLimitSettings settings;
  if (node.isNull()) return settings;
  ConfigReader reader(node, diagnostics);
  settings.enabled = reader.get<bool>("enabled", settings.enabled);
  for (const char* name : {"read", "write"})
    if (reader.has(name))
      if (auto limit = readLimit(reader.child(name), name, diagnostics)) settings.defaults[name] = *limit;
  if (reader.has(kFailedAuth))
    if (auto limit = readLimit(reader.child(kFailedAuth), kFailedAuth, diagnostics))
      settings.failedAuth = *limit;
  const ConfigNode& permissions = reader.child("permissions");
  if (!permissions.isNull()) {
    LimitTable table;
    readTable(permissions, table, diagnostics);
    for (auto& [name, limit] : table) {
      if (name == "read" || name == "write")
        diagnostics.error(permissions.location(), "'permissions': '" + name + "' is not a permission");
      else
        settings.defaults[name] = limit;
    }
  }
  readOverrides(reader.child("roles"), "roles", settings.roles, diagnostics);
  readOverrides(reader.child("principals"), "principals", settings.principals, diagnostics);
  settings.maxTracked = static_cast<std::size_t>(reader.getInRange<std::int64_t>(
      "max_tracked", static_cast<std::int64_t>(settings.maxTracked), 100, 10'000'000));
  settings.shared = readShared(reader.child("redis"), diagnostics);
  reader.finish();
  return settings;
}

std::string_view routeClass(std::string_view permission) {
  std::size_t colon = permission.find(':');
  return colon != std::string_view::npos && permission.substr(colon + 1) == "read" ? "read" : "write";
}

std::string_view addressOf(std::string_view remote) {
  if (!remote.empty() && remote.front() == '[') {
    std::size_t close = remote.find(']');
    return close == std::string_view::npos ? remote : remote.substr(1, close - 1);
  }
  std::size_t colon = remote.rfind(':');
  return colon == std::string_view::npos || remote.find(':') != colon ? remote : remote.substr(0, colon);
}

RateLimiter::RateLimiter(RateLimitSettings settings, Counter& limited, std::unique_ptr<RedisBuckets> shared)
    : settings_(std::move(settings)), limited_(limited), shared_(std::move(shared)) {}

LimitSetting RateLimiter::limitFor(std::string_view principal, std::string_view role,
                                   std::string_view name) const {
  for (const auto* overrides : {&settings_.principals, &settings_.roles}) {
    auto who = overrides->find(overrides == &settings_.principals ? principal : role);
    if (who == overrides->end()) continue;
    auto found = who->second.find(name);
    if (found != who->second.end()) return found->second;
  }
  auto found = settings_.defaults.find(name);
  return found == settings_.defaults.end() ? LimitSetting{} : found->second;
}

RateLimiter::Bucket* RateLimiter::bucket(const std::string& key, const RateLimit& limit, std::int64_t nowMs) {
  auto found = buckets_.find(key);
  if (found == buckets_.end()) {
    if (buckets_.size() >= settings_.maxTracked) {
      // Full buckets are idle ones: forgetting them changes nothing.
      std::erase_if(buckets_, [&](const auto& entry) {
        const Bucket& b = entry.second;
        double elapsed = static_cast<double>(std::max<std::int64_t>(0, nowMs - b.atMs)) / 1000.0;
        return b.tokens + elapsed * b.limit.perSecond >= b.limit.burst;
      });
      if (buckets_.size() >= settings_.maxTracked) return nullptr;
    }
    found = buckets_.emplace(key, Bucket{limit.burst, nowMs, limit}).first;
  }
  Bucket& b = found->second;
  // A clock stepping back refills nothing rather than draining.
  double elapsed = static_cast<double>(std::max<std::int64_t>(0, nowMs - b.atMs)) / 1000.0;
  b.tokens = std::min(limit.burst, b.tokens + elapsed * limit.perSecond);
  b.atMs = std::max(b.atMs, nowMs);
  b.limit = limit;
  return &b;
}

std::optional<Limited> RateLimiter::draw(const std::string& key, std::string_view name,
                                         const RateLimit& limit, std::int64_t nowMs, bool take) {
  Bucket* b = bucket(key, limit, nowMs);
  if (b == nullptr) return std::nullopt;  // beyond max_tracked: not limited rather than refused
  if (b->tokens >= 1) {
    if (take) b->tokens -= 1;
    return std::nullopt;
  }
  auto wait = static_cast<std::int64_t>(std::ceil((1 - b->tokens) / limit.perSecond));
  return Limited{std::string(name), limit.burst, std::max<std::int64_t>(1, wait)};
}

void RateLimiter::emptyFor(const std::string& key, const RateLimit& limit, std::int64_t nowMs,
                           std::int64_t waitMs) {
  Bucket* b = bucket(key, limit, nowMs);
  if (b == nullptr) return;
  // One token is there after waitMs: 1 - waitMs * rate now.
  b->tokens = std::min(b->tokens, 1 - static_cast<double>(waitMs) / 1000.0 * limit.perSecond);
}

std::optional<Limited> RateLimiter::take(std::string_view principal, std::string_view role,
                                         std::string_view permission, std::int64_t nowMs) {
  if (!settings_.enabled) return std::nullopt;
  std::string_view kind = routeClass(permission);
  LimitSetting byClass = limitFor(principal, role, kind);
  LimitSetting byPermission = limitFor(principal, role, permission);
  if (!byClass && !byPermission) return std::nullopt;
  std::string classKey = std::string(principal) + '\n' + std::string(kind);
  // Most permissions have no bucket of their own: no key to build then.
  std::string permissionKey =
      byPermission ? std::string(principal) + '\n' + std::string(permission) : std::string();
  auto drawLocally = [&] {
    if (byClass) (void)draw(classKey, kind, *byClass, nowMs, true);
    if (byPermission) (void)draw(permissionKey, permission, *byPermission, nowMs, true);
  };
  struct Asked {
    const std::string* localKey;
    std::string_view name;
    RateLimit limit;
    bool leased;        // a leased cell was taken for it: Redis is not asked
    std::int64_t want;  // otherwise: the cells to ask Redis for
  };
  std::vector<Asked> asked;
  if (shared_) {
    if (byClass) asked.push_back({&classKey, kind, *byClass, false, 1});
    if (byPermission) asked.push_back({&permissionKey, permission, *byPermission, false, 1});
  }
  {
    std::lock_guard lock(mutex_);
    // A bucket with leased cells passes: they are paid in Redis, whatever the
    // local bucket says (a concurrent refusal may have emptied it).
    auto leasedFor = [&](const std::string& key, const RateLimit& limit) {
      if (!shared_) return false;
      Bucket* b = bucket(key, limit, nowMs);
      return b != nullptr && b->leased > 0 && nowMs < b->leasedUntilMs;
    };
    // Both buckets are checked before either is drawn from, so a refusal costs nothing.
    if (byClass && !leasedFor(classKey, *byClass))
      if (auto refused = draw(classKey, kind, *byClass, nowMs, false)) {
        limited_.increment();
        return refused;
      }
    if (byPermission && !leasedFor(permissionKey, *byPermission))
      if (auto refused = draw(permissionKey, permission, *byPermission, nowMs, false)) {
        limited_.increment();
        return refused;
      }
    std::size_t leased = 0;
    for (auto& bucket : asked) {
      bucket.leased = takeLeased(*bucket.localKey, bucket.limit, nowMs);
      if (bucket.leased)
        ++leased;
      else
        bucket.want = leaseWanted(*bucket.localKey, bucket.limit, nowMs);
    }
    if (leased == asked.size()) {  // local mode, or every bucket has a leased cell left
      drawLocally();
      return std::nullopt;
    }
  }
  // Shared: Redis decides, outside the lock (other principals go on meanwhile).
  std::vector<GcraCell> cells;
  std::vector<const Asked*> sent;
  for (const auto& bucket : asked) {
    if (bucket.leased) continue;
    cells.push_back(
        {shared_->key(principal, bucket.name), bucket.limit.perSecond, bucket.limit.burst, bucket.want});
    sent.push_back(&bucket);
  }
  auto verdict = shared_->draw(cells, nowMs);
  std::lock_guard lock(mutex_);
  if (verdict.ok() && !verdict->admitted) {
    // Refused: the leased cells taken for this request go back.
    for (const auto& bucket : asked)
      if (bucket.leased)
        if (Bucket* b = this->bucket(*bucket.localKey, bucket.limit, nowMs); b != nullptr) ++b->leased;
    const Asked& full = *sent[verdict->refused];
    // Another request of this principal may have leased cells meanwhile: the
    // local bucket is emptied only when none are left, or they would be lost.
    Bucket* b = bucket(*full.localKey, full.limit, nowMs);
    if (b == nullptr || b->leased <= 0 || nowMs >= b->leasedUntilMs)
      emptyFor(*full.localKey, full.limit, nowMs, verdict->retryAfterMs);
    limited_.increment();
    return Limited{std::string(full.name), full.limit.burst,
                   std::max<std::int64_t>(1, (verdict->retryAfterMs + 999) / 1000)};
  }
  if (verdict.ok())
    for (std::size_t i = 0; i < sent.size(); ++i)
      addLeased(*sent[i]->localKey, sent[i]->limit, nowMs, verdict->granted[i]);
  // Admitted by Redis, or Redis could not say: the local buckets count it.
  drawLocally();
  return std::nullopt;
}

bool RateLimiter::takeLeased(const std::string& key, const RateLimit& limit, std::int64_t nowMs) {
  Bucket* b = bucket(key, limit, nowMs);
  if (b == nullptr || b->leased <= 0 || nowMs >= b->leasedUntilMs) return false;
  --b->leased;
  return true;
}

std::int64_t RateLimiter::leaseWanted(const std::string& key, const RateLimit& limit, std::int64_t nowMs) {
  std::int64_t cap = leaseCap(limit);
  Bucket* b = bucket(key, limit, nowMs);
  if (b == nullptr || cap == 1) return 1;
  // Still within the last lease and none left: this caller uses them up.
  bool busy = nowMs < b->leasedUntilMs;
  b->nextLease = std::clamp<std::int64_t>(busy ? b->nextLease * 2 : b->nextLease / 2, 1, cap);
  return b->nextLease;
}

void RateLimiter::addLeased(const std::string& key, const RateLimit& limit, std::int64_t nowMs,
                            std::int64_t granted) {
  if (!settings_.shared || settings_.shared->lease.count() == 0) return;
  Bucket* b = bucket(key, limit, nowMs);
  if (b == nullptr) return;
  if (nowMs >= b->leasedUntilMs) b->leased = 0;  // expired ones are not carried over
  b->leased += std::max<std::int64_t>(0, granted - 1);
  b->leasedUntilMs = nowMs + settings_.shared->lease.count();
}

std::int64_t RateLimiter::leaseCap(const RateLimit& limit) const {
  if (!settings_.shared || settings_.shared->lease.count() == 0) return 1;
  double cells = std::floor(limit.perSecond * static_cast<double>(settings_.shared->lease.count()) / 1000.0);
  double most = std::min(64.0, std::max(1.0, std::floor(limit.burst / 2)));
  return static_cast<std::int64_t>(std::clamp(cells, 1.0, most));
}

std::optional<Limited> RateLimiter::addressBlocked(std::string_view address, std::int64_t nowMs) {
  if (!settings_.enabled || !settings_.failedAuth) return std::nullopt;
  std::lock_guard lock(mutex_);
  auto refused = draw("address\n" + std::string(address), kFailedAuth, *settings_.failedAuth, nowMs, false);
  if (refused) limited_.increment();
  return refused;
}

void RateLimiter::failedFrom(std::string_view address, std::int64_t nowMs) {
  if (!settings_.enabled || !settings_.failedAuth) return;
  std::string localKey = "address\n" + std::string(address);
  {
    std::lock_guard lock(mutex_);
    (void)draw(localKey, kFailedAuth, *settings_.failedAuth, nowMs, true);
  }
  if (!shared_) return;
  const RateLimit& limit = *settings_.failedAuth;
  GcraCell cell{shared_->key("address\n" + std::string(address), kFailedAuth), limit.perSecond, limit.burst};
  auto verdict = shared_->draw(std::span(&cell, 1), nowMs);
  if (verdict.ok() && !verdict->admitted) {
    std::lock_guard lock(mutex_);
    emptyFor(localKey, limit, nowMs, verdict->retryAfterMs);
  }
}

std::size_t RateLimiter::tracked() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

}  // namespace hive::security_manager
