#include "redis_buckets.hpp"

#include <sodium.h>
#include <sys/time.h>

#include <charconv>
#include <memory>

#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include "plugin_common/sigpipe_block.hpp"

namespace hive::security_manager {
namespace {

// KEYS: the buckets. ARGV[1]: now (ms); then per bucket its emission interval T
// (ms), its capacity burst * T (ms) and the cells wanted (at least 1). Every
// bucket is checked for its first cell before any is moved, so a refusal draws
// nothing; a bucket with room for fewer cells than wanted grants what fits.
// Answers {admitted, refused bucket (1-based), wait in ms, cells granted per bucket...}.
// A key lives a burst period (its capacity) past the time its bucket is full
// again: expiring on Redis's clock right at TAT would refill the bucket for a
// node whose clock is behind the one that drew.
constexpr std::string_view kGcraScript = R"lua(
local now = tonumber(ARGV[1])
local tats, granted = {}, {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[3 * i - 1])
  local capacity = tonumber(ARGV[3 * i])
  local want = tonumber(ARGV[3 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  local wait = tat + interval - now - capacity
  if wait > 0 then return {0, i, math.ceil(wait)} end
  local room = math.floor((capacity - (tat - now)) / interval)
  local cells = math.max(1, math.min(want, room))
  tats[i] = tat + cells * interval
  granted[i] = cells
end
local answer = {1, 0, 0}
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[3 * i])
  redis.call('SET', KEYS[i], string.format('%.17g', tats[i]), 'PX', math.ceil(tats[i] - now + capacity))
  answer[3 + i] = granted[i]
end
return answer
)lua";

using ReplyPointer = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

std::string hex(const unsigned char* bytes, std::size_t size) {
  std::string text(size * 2 + 1, '\0');
  sodium_bin2hex(text.data(), text.size(), bytes, size);
  text.pop_back();
  return text;
}

std::string sha1Hex(std::string_view text) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return hex(digest, sizeof digest);
}

// Shortest text that reads back as the same double (Lua's tonumber).
std::string number(double value) {
  char buffer[32];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, end);
}

timeval toTimeval(std::chrono::milliseconds duration) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(duration.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((duration.count() % 1000) * 1000);
  return tv;
}

std::int64_t steadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One command; a connection error (the context is unusable then) or the reply,
// which may be an error reply.
Result<ReplyPointer> run(redisContext* context, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(context, static_cast<int>(argv.size()), argv.data(), lengths.data()));
  if (reply == nullptr) {
    // hiredis reports a timeout as an I/O error with EAGAIN's text.
    return unavailable(std::string(context->err == REDIS_ERR_IO ? "no answer or connection lost: " : "") +
                       context->errstr);
  }
  return ReplyPointer(reply, &freeReplyObject);
}

std::string errorText(const redisReply& reply) { return std::string(reply.str, reply.len); }

}  // namespace

RedisBuckets::RedisBuckets(SharedLimitSettings settings, SharedLimitMetrics metrics, Logger& log)
    : settings_(std::move(settings)), metrics_(metrics), log_(log), sha_(sha1Hex(kGcraScript)) {}

RedisBuckets::~RedisBuckets() {
  // Callers are gone by now (the limiter outlives every authorize()).
  for (redisContext* context : idle_) redisFree(context);
}

std::string RedisBuckets::key(std::string_view who, std::string_view bucket) const {
  unsigned char digest[16];
  crypto_generichash(digest, sizeof digest, reinterpret_cast<const unsigned char*>(who.data()), who.size(),
                     nullptr, 0);
  std::string key = settings_.keyPrefix;
  key += '{';
  key += hex(digest, sizeof digest);
  key += "}:";
  key += bucket;
  return key;
}

Result<GcraVerdict> RedisBuckets::draw(std::span<const GcraCell> cells, std::int64_t nowMs) {
  if (cells.empty()) return GcraVerdict{};
  bool probe = false;
  if (outage_.load()) {
    // Paused after a failure, or another caller is already finding out.
    if (steadyMs() < quietUntil_.load() || probing_.exchange(true)) {
      metrics_.fallback.increment();
      return unavailable("shared rate limits paused: Redis failed recently");
    }
    probe = true;
  }
  Result<GcraVerdict> verdict = unavailable("not asked");
  {
    plugin_common::SigpipeBlock sigpipe;  // a write to a Redis that went away
    auto context = acquire();
    if (context.ok()) {
      verdict = evaluate(*context, cells, nowMs);
      release(*context, verdict.status());
    } else {
      verdict = context.status();
    }
  }
  if (verdict.ok())
    succeeded();
  else
    failed(verdict.status());
  if (probe) probing_ = false;
  if (!verdict.ok()) metrics_.fallback.increment();
  return verdict;
}

Result<GcraVerdict> RedisBuckets::evaluate(redisContext* context, std::span<const GcraCell> cells,
                                           std::int64_t nowMs) {
  std::vector<std::string> args;
  args.reserve(3 + cells.size() * 3);
  args.emplace_back("EVALSHA");
  args.push_back(sha_);
  args.push_back(std::to_string(cells.size()));
  for (const auto& cell : cells) args.push_back(cell.key);
  args.push_back(std::to_string(nowMs));
  for (const auto& cell : cells) {
    double interval = 1000.0 / cell.perSecond;
    args.push_back(number(interval));
    args.push_back(number(interval * cell.burst));
    args.push_back(std::to_string(std::max<std::int64_t>(1, cell.want)));
  }
  ReplyPointer reply = HIVE_TRY(run(context, args));
  if (reply->type == REDIS_REPLY_ERROR && errorText(*reply).starts_with("NOSCRIPT")) {
    // A new server, or SCRIPT FLUSH: EVAL sends the text and caches it again.
    args[0] = "EVAL";
    args[1] = std::string(kGcraScript);
    reply = HIVE_TRY(run(context, args));
  }
  if (reply->type == REDIS_REPLY_ERROR)
    return internalError("Redis refused the GCRA script: " + errorText(*reply));
  bool numbers = reply->type == REDIS_REPLY_ARRAY && reply->elements >= 3;
  for (std::size_t i = 0; numbers && i < reply->elements; ++i)
    numbers = reply->element[i]->type == REDIS_REPLY_INTEGER;
  if (!numbers) return internalError("the GCRA script answered something else than numbers");
  GcraVerdict verdict;
  verdict.admitted = reply->element[0]->integer == 1;
  if (verdict.admitted) {
    if (reply->elements != 3 + cells.size())
      return internalError("the GCRA script granted cells to another number of buckets");
    for (std::size_t i = 0; i < cells.size(); ++i)
      verdict.granted.push_back(std::max<long long>(1, reply->element[3 + i]->integer));
  } else {
    long long index = reply->element[1]->integer;
    if (index < 1 || static_cast<std::size_t>(index) > cells.size())
      return internalError("the GCRA script named no bucket of the request");
    verdict.refused = static_cast<std::size_t>(index - 1);
    verdict.retryAfterMs = std::max<long long>(1, reply->element[2]->integer);
  }
  return verdict;
}

Result<redisContext*> RedisBuckets::acquire() {
  std::unique_lock lock(poolMutex_);
  auto deadline = std::chrono::steady_clock::now() + settings_.timeout;
  while (true) {
    if (!idle_.empty()) {
      redisContext* context = idle_.back();
      idle_.pop_back();
      return context;
    }
    if (open_ < settings_.connections) {
      ++open_;
      lock.unlock();
      auto context = connect();
      if (!context.ok()) {
        lock.lock();
        --open_;
        returned_.notify_one();
      }
      return context;
    }
    if (returned_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= settings_.connections)
      return unavailable("all " + std::to_string(settings_.connections) + " connections to Redis busy for " +
                         std::to_string(settings_.timeout.count()) + "ms");
  }
}

void RedisBuckets::release(redisContext* context, const Status& outcome) {
  // An error reply leaves the connection usable; a lost or timed-out one does not
  // (a late answer would be read as the next command's).
  bool usable = context->err == 0 && (outcome.ok() || outcome.code() == StatusCode::kInternal);
  {
    std::lock_guard lock(poolMutex_);
    if (usable) {
      idle_.push_back(context);
    } else {
      --open_;
    }
  }
  if (!usable) redisFree(context);
  returned_.notify_one();
}

Result<redisContext*> RedisBuckets::connect() {
  const auto& endpoint = settings_.endpoint;
  redisContext* context =
      redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, toTimeval(settings_.timeout));
  if (context == nullptr) return unavailable("out of memory for a Redis connection");
  if (context->err != 0) {
    std::string why = context->errstr;
    redisFree(context);
    return unavailable("cannot connect to " + endpoint.redacted() + ": " + why);
  }
  redisSetTimeout(context, toTimeval(settings_.timeout));
  auto setup = [&](std::vector<std::string> args) -> Status {
    ReplyPointer reply = HIVE_TRY(run(context, args));
    // Redis's error text never holds the password.
    if (reply->type == REDIS_REPLY_ERROR)
      return unavailable(endpoint.redacted() + " refused " + args[0] + ": " + errorText(*reply));
    return okStatus();
  };
  Status ready = okStatus();
  if (!endpoint.password.empty()) ready = setup({"AUTH", endpoint.password});
  if (ready.ok() && endpoint.database != 0) ready = setup({"SELECT", std::to_string(endpoint.database)});
  if (!ready.ok()) {
    redisFree(context);
    return ready;
  }
  return context;
}

void RedisBuckets::failed(const Status& status) {
  metrics_.errors.increment();
  quietUntil_ = steadyMs() + settings_.retryInterval.count();
  // The idle connections probably broke with this one (a restarted or gone
  // server): a probe on a fresh one says whether Redis is back.
  std::vector<redisContext*> stale;
  {
    std::lock_guard lock(poolMutex_);
    stale.swap(idle_);
    open_ -= stale.size();
  }
  for (redisContext* context : stale) redisFree(context);
  if (!outage_.exchange(true))
    log_.warn("shared rate limits: Redis at " + settings_.endpoint.redacted() + " failed (" +
              status.message() + "); each node limits on its own until it answers (asking again every " +
              std::to_string(settings_.retryInterval.count()) + "ms)");
}

void RedisBuckets::succeeded() {
  if (outage_.exchange(false))
    log_.info("shared rate limits: Redis at " + settings_.endpoint.redacted() +
              " answers again; limits are shared");
}

}  // namespace hive::security_manager
