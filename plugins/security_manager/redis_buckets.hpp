// Rate-limit buckets shared by every node, kept in Redis with GCRA (the generic
// cell rate algorithm): one key per bucket holding its theoretical arrival time
// (TAT, in ms), read and moved by one Lua script run with EVALSHA, so that the
// check and the draw of every bucket of a request are one atomic step however
// many nodes ask at once.
//
// GCRA is the token bucket of rate_limiter.hpp written as a time: with the
// emission interval T = 1000 / rate ms, a request at `now` is admitted when
//   max(TAT, now) + T - now <= burst * T
// and then TAT = max(TAT, now) + T; refused, it waits the difference. That is
// exactly "a bucket of `burst` tokens refilled at `rate`", and an absent key is
// a full bucket. Each key expires when its bucket would be full again, so idle
// principals cost Redis nothing. A draw may ask for several cells (a lease,
// rate_limiter.hpp): it gets those that fit, at least one, or a refusal.
//
// Calls are synchronous, on the caller's thread (the api's I/O thread: hive.auth/1
// answers inline): a small pool of blocking hiredis connections, each call
// bounded by `timeout` (for connecting and for the answer). A failure (refused,
// timed out, a Redis error) is an error value: the caller limits on its own
// (RateLimiter's local buckets) and this object stops asking for
// `retry_interval`, so that an outage costs one bounded wait per interval and
// not one per request; then one caller probes, and the first success ends the
// outage. Each outage is logged once when it starts and once when it ends.
//
// Time is the caller's (`nowMs`, the nodes' clocks): a node whose clock is d ms
// ahead may admit about d * rate requests more than the budget, one behind d *
// rate fewer. Nodes already agree on time for JWT expiry (NTP).
//
// Thread-safe: draw() may be called from any number of threads at once; each
// holds one connection of the pool for its call.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hive/log.hpp"
#include "hive/metrics.hpp"
#include "hive/status.hpp"
#include "plugin_common/redis_url.hpp"

struct redisContext;

namespace hive::security_manager {

struct SharedLimitSettings {
  plugin_common::RedisEndpoint endpoint;
  std::string keyPrefix = "hive:ratelimit:";
  std::chrono::milliseconds timeout{50};          // per connect and per answer
  std::size_t connections = 8;                    // the pool's size at most
  std::chrono::milliseconds retryInterval{1000};  // local only for this long after a failure
  // A busy principal's node draws up to rate × lease cells per round trip and
  // admits with them for `lease` (0: one round trip per request).
  std::chrono::milliseconds lease{100};
};

// One bucket of a request: its Redis key, its limit, and how many cells to
// draw at most (a lease: the node keeps the others for the next requests).
struct GcraCell {
  std::string key;
  double perSecond = 0;
  double burst = 0;
  std::int64_t want = 1;
};

struct GcraVerdict {
  bool admitted = true;
  std::vector<std::int64_t> granted;  // when admitted: cells drawn per bucket, 1..want
  std::size_t refused = 0;            // the first full bucket (an index into the cells) when not admitted
  std::int64_t retryAfterMs = 0;      // until it would admit, when not admitted
};

// The counters the plugin registers; tests give their own.
struct SharedLimitMetrics {
  Counter& errors;    // Redis calls that failed (connect, timeout, error reply)
  Counter& fallback;  // draws answered "unavailable": limited by the node alone
};

class RedisBuckets {
 public:
  RedisBuckets(SharedLimitSettings settings, SharedLimitMetrics metrics, Logger& log);
  ~RedisBuckets();
  RedisBuckets(const RedisBuckets&) = delete;
  RedisBuckets& operator=(const RedisBuckets&) = delete;

  // One cell from every bucket, or none when one is full (then which, and for
  // how long). kUnavailable when Redis could not answer within the timeout or
  // is in an outage: nothing is known then, and nothing was drawn, or at worst
  // a draw whose answer was lost.
  Result<GcraVerdict> draw(std::span<const GcraCell> cells, std::int64_t nowMs);

  // The key of a bucket: the prefix, a hash of who is counted (in braces: a
  // Redis Cluster hash tag, so the buckets of one request share a slot), and
  // the bucket's name. `who` is a principal or an address: never written raw,
  // whatever its length or bytes.
  std::string key(std::string_view who, std::string_view bucket) const;

  // Between an outage's first failure and the success that ends it.
  bool inOutage() const { return outage_.load(); }

 private:
  Result<GcraVerdict> evaluate(redisContext* context, std::span<const GcraCell> cells, std::int64_t nowMs);
  // A connection from the pool, a new one when none is idle and fewer than
  // `connections` are open, or an error when none comes within the timeout.
  Result<redisContext*> acquire();
  void release(redisContext* context, const Status& outcome);
  Result<redisContext*> connect();
  void failed(const Status& status);
  void succeeded();

  const SharedLimitSettings settings_;
  SharedLimitMetrics metrics_;
  Logger& log_;
  std::string sha_;  // the script's SHA1, what EVALSHA names it by

  std::mutex poolMutex_;
  std::condition_variable returned_;
  std::vector<redisContext*> idle_;  // guarded by poolMutex_
  std::size_t open_ = 0;             // guarded by poolMutex_: idle + in use

  std::atomic<bool> outage_{false};
  std::atomic<std::int64_t> quietUntil_{0};  // steady ms: no call before (an outage's pause)
  std::atomic<bool> probing_{false};         // one caller tries Redis after a pause
};

}  // namespace hive::security_manager
