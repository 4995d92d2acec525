// security_manager's rate limits shared through Redis (redis_buckets.hpp): the
// GCRA script's arithmetic with a hand-moved clock, two RateLimiters as two
// nodes on one Redis, threads racing for one budget, and a redis-server of the
// test's own killed, frozen and restarted under the limiter. Real Redis and
// real sockets throughout: the tests that need one skip without
// HIVE_TEST_REDIS_URL (scripts/test-servers).
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include "rate_limiter.hpp"
#include "redis_buckets.hpp"

namespace hive::security_manager {
namespace {

using namespace std::chrono_literals;

std::string testRedisUrl() {
  const char* url = std::getenv("HIVE_TEST_REDIS_URL");
  return url ? url : "";
}
constexpr const char kNoRedis[] =
    "HIVE_TEST_REDIS_URL is not set: start the test servers with "
    "eval \"$(scripts/test-servers start)\" (or exclude these tests with ctest -LE redis)";

#define REQUIRE_REDIS()                                   \
  do {                                                    \
    if (testRedisUrl().empty()) GTEST_SKIP() << kNoRedis; \
  } while (false)

// A unique key prefix per test: nothing is shared with another run.
std::string uniquePrefix() {
  static std::atomic<int> serial{0};
  return "hive-test:" + std::to_string(::getpid()) + ":" + std::to_string(++serial) + ":rl:";
}

std::int64_t wallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class TestCounter final : public Counter {
 public:
  void increment(double amount) override {
    std::lock_guard lock(mutex_);
    value_ += amount;
  }
  double value() const override {
    std::lock_guard lock(mutex_);
    return value_;
  }

 private:
  mutable std::mutex mutex_;
  double value_ = 0;
};

class TestLogger final : public Logger {
 public:
  void log(LogLevel level, std::string_view message) override {
    std::lock_guard lock(mutex_);
    lines_.emplace_back(level, std::string(message));
  }
  bool enabled(LogLevel) const override { return true; }
  std::size_t count(LogLevel level) const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(lines_.begin(), lines_.end(), [&](const auto& line) { return line.first == level; }));
  }
  std::string all() const {
    std::lock_guard lock(mutex_);
    std::string text;
    for (const auto& line : lines_) text += line.second + "\n";
    return text;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<LogLevel, std::string>> lines_;
};

// One node's limiter on a Redis, with its own counters and log.
struct Node {
  TestCounter limited, errors, localOnly;
  TestLogger log;
  std::unique_ptr<RateLimiter> limiter;

  Node(RateLimitSettings settings, const std::string& url, const std::string& prefix,
       std::chrono::milliseconds retryInterval = 1000ms, std::chrono::milliseconds lease = 100ms) {
    SharedLimitSettings shared;
    shared.endpoint = *plugin_common::parseRedisUrl(url);
    shared.keyPrefix = prefix;
    shared.retryInterval = retryInterval;
    shared.lease = lease;
    settings.shared = shared;
    limiter = std::make_unique<RateLimiter>(
        settings, limited,
        std::make_unique<RedisBuckets>(shared, SharedLimitMetrics{errors, localOnly}, log));
  }
};

RateLimitSettings readLimits(RateLimit read, RateLimitSettings settings = {}) {
  settings.defaults = {{"read", read}, {"write", RateLimit{1000, 1000}}};
  return settings;
}

// A plain hiredis connection for looking at the keys.
class Inspector {
 public:
  explicit Inspector(const std::string& url) {
    auto endpoint = *plugin_common::parseRedisUrl(url);
    context_ = redisConnect(endpoint.host.c_str(), endpoint.port);
  }
  ~Inspector() {
    if (context_ != nullptr) redisFree(context_);
  }
  Inspector(const Inspector&) = delete;
  Inspector& operator=(const Inspector&) = delete;

  std::vector<std::string> keys(const std::string& prefix) {
    std::vector<std::string> found;
    auto* reply = static_cast<redisReply*>(redisCommand(context_, "KEYS %s*", prefix.c_str()));
    if (reply == nullptr) return found;
    for (std::size_t i = 0; i < reply->elements; ++i)
      found.emplace_back(reply->element[i]->str, reply->element[i]->len);
    freeReplyObject(reply);
    return found;
  }
  // The bucket's theoretical arrival time (ms), 0 when there is none.
  double tat(const std::string& key) {
    auto* reply = static_cast<redisReply*>(redisCommand(context_, "GET %b", key.data(), key.size()));
    double value = reply != nullptr && reply->type == REDIS_REPLY_STRING ? std::stod(reply->str) : 0;
    freeReplyObject(reply);
    return value;
  }
  long long pttl(const std::string& key) {
    auto* reply = static_cast<redisReply*>(redisCommand(context_, "PTTL %b", key.data(), key.size()));
    long long ttl = reply != nullptr ? reply->integer : -3;
    freeReplyObject(reply);
    return ttl;
  }
  void clear(const std::string& prefix) {
    for (const auto& key : keys(prefix))
      freeReplyObject(redisCommand(context_, "DEL %b", key.data(), key.size()));
  }

 private:
  redisContext* context_ = nullptr;
};

int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return 0;
  }
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

bool canConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return ok;
}

// A redis-server of the test's own on a free loopback port, in memory only, to
// kill, freeze and start again.
class OwnRedis {
 public:
  OwnRedis() : port_(freePort()) {}
  ~OwnRedis() { signal(SIGKILL); }
  OwnRedis(const OwnRedis&) = delete;
  OwnRedis& operator=(const OwnRedis&) = delete;

  bool start() {
    pid_ = ::fork();
    if (pid_ == 0) {
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::dup2(null, 2);
      std::string port = std::to_string(port_);
      ::execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--protected-mode", "no", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (canConnect(port_)) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  void signal(int number) {
    if (pid_ <= 0) return;
    ::kill(pid_, number);
    if (number == SIGKILL) {
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  pid_t pid_ = -1;
};

// ---- the GCRA script, with a clock moved by hand ----

TEST(SharedRateLimit, GcraAdmitsTheBurstThenOnePerIntervalAndNamesTheWait) {
  REQUIRE_REDIS();
  std::string prefix = uniquePrefix();
  TestCounter errors, localOnly;
  TestLogger log;
  SharedLimitSettings settings;
  settings.endpoint = *plugin_common::parseRedisUrl(testRedisUrl());
  settings.keyPrefix = prefix;
  RedisBuckets buckets(settings, {errors, localOnly}, log);
  std::vector<GcraCell> cell{{buckets.key("key:a", "read"), 2, 3}};  // 2/s, burst 3: one every 500 ms
  const std::int64_t start = wallMs();
  for (int i = 0; i < 3; ++i) {
    auto verdict = buckets.draw(cell, start);
    ASSERT_TRUE(verdict.ok()) << verdict.status().message();
    EXPECT_TRUE(verdict->admitted) << i;
  }
  auto refused = buckets.draw(cell, start);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->admitted);
  EXPECT_EQ(refused->refused, 0u);
  EXPECT_EQ(refused->retryAfterMs, 500);
  auto almost = buckets.draw(cell, start + 499);
  EXPECT_FALSE(almost->admitted);
  EXPECT_EQ(almost->retryAfterMs, 1);
  EXPECT_TRUE(buckets.draw(cell, start + 500)->admitted) << "refilled one cell after 500 ms";
  EXPECT_FALSE(buckets.draw(cell, start + 500)->admitted);
  EXPECT_FALSE(buckets.draw(cell, start + 999)->admitted) << "refusals drew nothing";
  EXPECT_TRUE(buckets.draw(cell, start + 1000)->admitted);
  // Idle for long: full again, never more than the burst.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(buckets.draw(cell, start + 60'000)->admitted) << i;
  EXPECT_FALSE(buckets.draw(cell, start + 60'000)->admitted);
  // A clock stepping back (another node's, a little behind) refills nothing.
  EXPECT_FALSE(buckets.draw(cell, start + 59'000)->admitted);

  // Two buckets in one call: a refusal by one draws nothing from the other.
  std::vector<GcraCell> both{{buckets.key("key:b", "write"), 100, 2},
                             {buckets.key("key:b", "tasks:write"), 1, 1}};
  EXPECT_TRUE(buckets.draw(both, start)->admitted);
  auto quota = buckets.draw(both, start);
  EXPECT_FALSE(quota->admitted);
  EXPECT_EQ(quota->refused, 1u) << "the permission's quota is full, the class is not";
  EXPECT_EQ(quota->retryAfterMs, 1000);
  std::vector<GcraCell> classOnly{both[0]};
  EXPECT_TRUE(buckets.draw(classOnly, start)->admitted) << "the class bucket kept its second cell";
  EXPECT_FALSE(buckets.draw(classOnly, start)->admitted);
  EXPECT_EQ(errors.value(), 0);
}

TEST(SharedRateLimit, KeysHoldNoRawPrincipalOrAddressAreBoundedAndExpireWhenFull) {
  REQUIRE_REDIS();
  std::string prefix = uniquePrefix();
  RateLimitSettings settings = readLimits(RateLimit{10, 20});
  settings.failedAuth = RateLimit{1, 5};
  Node node(settings, testRedisUrl(), prefix);
  std::string longPrincipal = "jwt:" + std::string(5000, 'x') + "\r\n*1\r\n$8\r\nFLUSHALL\r\n";
  std::int64_t now = wallMs();
  EXPECT_FALSE(node.limiter->take("key:0123456789abcdef", "viewer", "tasks:read", now));
  EXPECT_FALSE(node.limiter->take(longPrincipal, "viewer", "tasks:read", now));
  node.limiter->failedFrom("203.0.113.7", now);
  Inspector redis(testRedisUrl());
  auto keys = redis.keys(prefix);
  ASSERT_EQ(keys.size(), 3u);
  for (const auto& key : keys) {
    EXPECT_EQ(key.find("0123456789abcdef"), std::string::npos) << key;
    EXPECT_EQ(key.find("xxxx"), std::string::npos) << key;
    EXPECT_EQ(key.find("203.0.113"), std::string::npos) << key;
    EXPECT_LE(key.size(), prefix.size() + 35 + std::string("failed_auth").size()) << key;
    // One request: full again one interval later (100 ms at 10/s, 1 s for
    // failed_auth at 1/s), gone a burst period after that (2 s, 5 s).
    long long ttl = redis.pttl(key);
    bool failedAuth = key.ends_with(":failed_auth");
    EXPECT_GT(ttl, failedAuth ? 5000 : 2000) << key;
    EXPECT_LE(ttl, failedAuth ? 6000 : 2100) << key;
  }
  EXPECT_EQ(node.errors.value(), 0);
}

// ---- two nodes ----

TEST(SharedRateLimit, TwoNodesOnOneRedisAllowTheBurstOnceNotTwice) {
  REQUIRE_REDIS();
  std::string prefix = uniquePrefix();
  RateLimitSettings settings = readLimits(RateLimit{1.0 / 3600, 5});
  Node a(settings, testRedisUrl(), prefix), b(settings, testRedisUrl(), prefix);
  std::int64_t now = wallMs();
  int admitted = 0;
  for (int i = 0; i < 20; ++i) {
    Node& node = i % 2 == 0 ? a : b;
    if (!node.limiter->take("key:shared", "viewer", "tasks:read", now)) ++admitted;
  }
  EXPECT_EQ(admitted, 5) << "one burst between the two nodes";
  EXPECT_EQ(a.limited.value() + b.limited.value(), 15);
  // Another principal has a budget of its own.
  EXPECT_FALSE(b.limiter->take("key:other", "viewer", "tasks:read", now));
  EXPECT_EQ(a.errors.value() + b.errors.value(), 0);

  // Without Redis the same two nodes allow it twice: what shared mode fixes.
  TestCounter limited;
  RateLimiter aloneA(settings, limited), aloneB(settings, limited);
  int alone = 0;
  for (int i = 0; i < 20; ++i)
    if (!(i % 2 == 0 ? aloneA : aloneB).take("key:shared", "viewer", "tasks:read", now)) ++alone;
  EXPECT_EQ(alone, 10);
}

TEST(SharedRateLimit, RefillOverTimeAndRetryAfterFromTheSharedBucket) {
  REQUIRE_REDIS();
  std::string prefix = uniquePrefix();
  RateLimitSettings settings = readLimits(RateLimit{0.5, 2});   // one every 2 s
  settings.defaults["tasks:write"] = RateLimit{3.0 / 3600, 3};  // 3 an hour
  Node a(settings, testRedisUrl(), prefix), b(settings, testRedisUrl(), prefix);
  std::int64_t now = wallMs();
  EXPECT_FALSE(a.limiter->take("key:r", "viewer", "tasks:read", now));
  EXPECT_FALSE(b.limiter->take("key:r", "viewer", "tasks:read", now));
  auto refused = a.limiter->take("key:r", "viewer", "tasks:read", now + 500);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->bucket, "read");
  EXPECT_EQ(refused->limit, 2);
  EXPECT_EQ(refused->retryAfterSeconds, 2) << "1.5 s left, rounded up";
  // Node b's local bucket has a token left; Redis refuses all the same.
  auto onB = b.limiter->take("key:r", "viewer", "tasks:read", now + 1500);
  ASSERT_TRUE(onB);
  EXPECT_EQ(onB->retryAfterSeconds, 1);
  EXPECT_FALSE(b.limiter->take("key:r", "viewer", "tasks:read", now + 2000)) << "one cell back after 2 s";
  EXPECT_TRUE(a.limiter->take("key:r", "viewer", "tasks:read", now + 2000));
  EXPECT_FALSE(a.limiter->take("key:r", "viewer", "tasks:read", now + 4000));

  // An hourly quota spent across both nodes: the next in 20 minutes, on either.
  EXPECT_FALSE(a.limiter->take("key:q", "submitter", "tasks:write", now));
  EXPECT_FALSE(b.limiter->take("key:q", "submitter", "tasks:write", now));
  EXPECT_FALSE(a.limiter->take("key:q", "submitter", "tasks:write", now));
  auto quota = b.limiter->take("key:q", "submitter", "tasks:write", now);
  ASSERT_TRUE(quota);
  EXPECT_EQ(quota->bucket, "tasks:write");
  EXPECT_EQ(quota->retryAfterSeconds, 1200);
  EXPECT_FALSE(b.limiter->take("key:q", "submitter", "agents:write", now)) << "the write class has room left";
  // The refusal emptied b's local bucket: b now refuses on its own with the same wait.
  auto local = b.limiter->take("key:q", "submitter", "tasks:write", now + 1500);
  ASSERT_TRUE(local);
  EXPECT_EQ(local->retryAfterSeconds, 1199);
}

TEST(SharedRateLimit, LeasesGrowForABusyPrincipalAndStillShareOneBurst) {
  REQUIRE_REDIS();
  std::string prefix = uniquePrefix();
  RateLimitSettings settings = readLimits(RateLimit{100, 20});  // one cell per 10 ms
  // A lease of 1 s: up to 100 cells, at most half the burst: 10.
  Node a(settings, testRedisUrl(), prefix, 1000ms, 1000ms),
      b(settings, testRedisUrl(), prefix, 1000ms, 1000ms);
  Inspector redis(testRedisUrl());
  SharedLimitSettings sameKeys;
  sameKeys.keyPrefix = prefix;
  RedisBuckets naming(sameKeys, {a.errors, a.localOnly}, a.log);
  std::string key = naming.key("key:busy", "read");
  const std::int64_t now = wallMs();
  auto take = [&](Node& node, std::int64_t at) {
    return node.limiter->take("key:busy", "viewer", "tasks:read", at);
  };
  auto drawnUntil = [&] { return static_cast<std::int64_t>(redis.tat(key)) - now; };  // ms of cells drawn
  // Each lease used up within its time doubles the next: 1, 2, 4, 8, then what
  // fits of 10 (5). 20 requests, 5 round trips.
  std::vector<std::int64_t> drawn;
  int admitted = 0;
  for (int i = 0; i < 20; ++i) {
    if (!take(a, now)) ++admitted;
    if (drawn.empty() || drawn.back() != drawnUntil()) drawn.push_back(drawnUntil());
  }
  EXPECT_EQ(admitted, 20);
  EXPECT_EQ(drawn, (std::vector<std::int64_t>{10, 30, 70, 150, 200})) << "cells drawn: 1, 2, 4, 8, 5";
  auto refused = take(b, now);
  ASSERT_TRUE(refused) << "the other node finds the burst spent: once, not twice";
  EXPECT_EQ(refused->retryAfterSeconds, 1);
  EXPECT_TRUE(take(a, now));

  // A caller slower than its leases asks for one cell at a time: nothing wasted.
  const std::int64_t later = now + 60'000;
  EXPECT_FALSE(take(a, later));  // the last lease ended unused: half of 10
  EXPECT_EQ(drawnUntil(), 60'000 + 50);
  EXPECT_FALSE(take(a, later + 999)) << "a leased cell";
  EXPECT_EQ(drawnUntil(), 60'000 + 50);
  for (std::int64_t at = later + 2'000; at < later + 10'000; at += 2'000) EXPECT_FALSE(take(a, at));
  EXPECT_EQ(drawnUntil(), 60'000 + 8'000 + 10) << "halved down to 1 cell per request";

  // Without leases each request is one cell and one round trip.
  Node exact(settings, testRedisUrl(), prefix, 1000ms, 0ms);
  std::string exactKey = naming.key("key:exact", "read");
  EXPECT_FALSE(exact.limiter->take("key:exact", "viewer", "tasks:read", now));
  EXPECT_FALSE(exact.limiter->take("key:exact", "viewer", "tasks:read", now));
  EXPECT_DOUBLE_EQ(redis.tat(exactKey), static_cast<double>(now + 20));
}

TEST(SharedRateLimit, FailedAuthenticationsFromOneAddressAreCountedAcrossNodes) {
  REQUIRE_REDIS();
  std::string prefix = uniquePrefix();
  RateLimitSettings settings = readLimits(RateLimit{100, 100});
  settings.failedAuth = RateLimit{1.0 / 60, 3};  // 3, then one a minute
  Node a(settings, testRedisUrl(), prefix), b(settings, testRedisUrl(), prefix);
  std::int64_t now = wallMs();
  a.limiter->failedFrom("198.51.100.9", now);
  b.limiter->failedFrom("198.51.100.9", now);
  a.limiter->failedFrom("198.51.100.9", now);
  EXPECT_FALSE(b.limiter->addressBlocked("198.51.100.9", now)) << "b saw one failure of its own";
  b.limiter->failedFrom("198.51.100.9", now);  // the fourth guess, on b: over the shared budget
  auto blocked = b.limiter->addressBlocked("198.51.100.9", now);
  ASSERT_TRUE(blocked);
  EXPECT_EQ(blocked->bucket, "failed_auth");
  EXPECT_EQ(blocked->retryAfterSeconds, 60);
  EXPECT_FALSE(a.limiter->addressBlocked("198.51.100.10", now)) << "another address";
}

TEST(SharedRateLimit, ConcurrentRequestsFromManyThreadsStayWithinTheBudget) {
  REQUIRE_REDIS();
  std::string prefix = uniquePrefix();
  constexpr int kBurst = 200;
  RateLimitSettings settings = readLimits(RateLimit{1.0 / 3600, kBurst});
  Node a(settings, testRedisUrl(), prefix), b(settings, testRedisUrl(), prefix);
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      Node& node = t % 2 == 0 ? a : b;
      for (int i = 0; i < 100; ++i)
        if (!node.limiter->take("key:race", "viewer", "tasks:read", wallMs())) ++admitted;
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(admitted.load(), kBurst) << "800 requests from 8 threads on 2 nodes, a burst of 200";
  EXPECT_EQ(a.errors.value() + b.errors.value(), 0) << a.log.all() << b.log.all();
}

TEST(SharedRateLimit, ConcurrentRequestsWithLeasesNeverExceedTheBudget) {
  REQUIRE_REDIS();
  std::string prefix = uniquePrefix();
  constexpr int kBurst = 200;
  // 100/s with a 1 s lease: 64 cells per round trip. One instant of the
  // nodes' clock, so nothing refills: the keys live on Redis's clock for
  // their 2 s burst period past it, far longer than the test runs.
  RateLimitSettings settings = readLimits(RateLimit{100, kBurst});
  Node a(settings, testRedisUrl(), prefix, 1000ms, 1000ms),
      b(settings, testRedisUrl(), prefix, 1000ms, 1000ms);
  const std::int64_t now = wallMs();
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      Node& node = t % 2 == 0 ? a : b;
      for (int i = 0; i < 100; ++i)
        if (!node.limiter->take("key:leases", "viewer", "tasks:read", now)) ++admitted;
    });
  for (auto& thread : threads) thread.join();
  EXPECT_LE(admitted.load(), kBurst) << "every cell is paid in Redis before it is used";
  EXPECT_GE(admitted.load(), kBurst - 2 * 63) << "at most a lease's rest left unused per node";
  EXPECT_EQ(a.errors.value() + b.errors.value(), 0) << a.log.all() << b.log.all();
}

// ---- Redis away ----

TEST(SharedRateLimit, RedisKilledLocalLimitsApplyAndItsReturnSharesThemAgain) {
  REQUIRE_REDIS();  // the convention for Redis tests; this one runs a server of its own
  OwnRedis redis;
  ASSERT_TRUE(redis.start()) << "redis-server did not start";
  std::string prefix = uniquePrefix();
  RateLimitSettings settings = readLimits(RateLimit{1.0 / 3600, 4});
  Node a(settings, redis.url(), prefix, 200ms), b(settings, redis.url(), prefix, 200ms);
  std::int64_t now = wallMs();
  EXPECT_FALSE(a.limiter->take("key:k", "viewer", "tasks:read", now));
  EXPECT_FALSE(a.limiter->take("key:k", "viewer", "tasks:read", now));
  EXPECT_FALSE(b.limiter->take("key:k", "viewer", "tasks:read", now));
  EXPECT_FALSE(b.limiter->take("key:k", "viewer", "tasks:read", now));
  EXPECT_TRUE(b.limiter->take("key:k", "viewer", "tasks:read", now)) << "the shared burst of 4 is spent";

  redis.signal(SIGKILL);
  // Each node on its own: a has drawn 2 of its local 4, so 2 more pass, then
  // its local bucket refuses; never unlimited, never an exception, never long.
  int admitted = 0;
  auto slowest = 0ms;
  for (int i = 0; i < 50; ++i) {
    auto started = std::chrono::steady_clock::now();
    if (!a.limiter->take("key:k", "viewer", "tasks:read", now)) ++admitted;
    slowest = std::max(slowest, std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::steady_clock::now() - started));
  }
  EXPECT_EQ(admitted, 2) << "the node's own budget, not none and not unlimited";
  EXPECT_LT(slowest, 100ms);
  EXPECT_GE(a.errors.value(), 1);
  EXPECT_GE(a.localOnly.value(), 2) << "the requests decided without Redis";
  EXPECT_EQ(a.log.count(LogLevel::kWarn), 1u) << "one line per outage, not per request:\n" << a.log.all();
  // A principal b has not seen: b alone allows its whole local burst.
  int fresh = 0;
  for (int i = 0; i < 10; ++i)
    if (!b.limiter->take("key:fresh", "viewer", "tasks:read", now)) ++fresh;
  EXPECT_EQ(fresh, 4);

  ASSERT_TRUE(redis.start()) << "redis-server did not start again";
  std::this_thread::sleep_for(300ms);  // past retry_interval: the next request asks Redis
  // Shared again: a new principal gets one burst of 4 between the two nodes.
  int shared = 0;
  for (int i = 0; i < 12; ++i)
    if (!(i % 2 == 0 ? a : b).limiter->take("key:after", "viewer", "tasks:read", now)) ++shared;
  EXPECT_EQ(shared, 4) << a.log.all() << b.log.all();
  EXPECT_EQ(a.log.count(LogLevel::kInfo), 1u) << "the outage's end, once:\n" << a.log.all();
  EXPECT_EQ(b.log.count(LogLevel::kInfo), 1u) << b.log.all();
}

TEST(SharedRateLimit, AFrozenRedisCostsOneTimeoutPerRetryIntervalNotOnePerRequest) {
  REQUIRE_REDIS();
  OwnRedis redis;
  ASSERT_TRUE(redis.start()) << "redis-server did not start";
  std::string prefix = uniquePrefix();
  RateLimitSettings settings = readLimits(RateLimit{1.0 / 3600, 100});
  Node node(settings, redis.url(), prefix, 500ms);
  std::int64_t now = wallMs();
  EXPECT_FALSE(node.limiter->take("key:f", "viewer", "tasks:read", now));
  redis.signal(SIGSTOP);  // accepts nothing, answers nothing: a slow server
  auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(node.limiter->take("key:f", "viewer", "tasks:read", now)) << "passed on the local bucket";
  auto first = std::chrono::steady_clock::now() - started;
  EXPECT_GE(first, 40ms);
  EXPECT_LT(first, 200ms) << "bounded by the 50 ms timeout";
  started = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(node.limiter->take("key:f", "viewer", "tasks:read", now));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 40ms) << "paused: no Redis call at all";
  EXPECT_EQ(node.errors.value(), 1);
  EXPECT_EQ(node.localOnly.value(), 21);
  redis.signal(SIGCONT);
  std::this_thread::sleep_for(600ms);
  EXPECT_FALSE(node.limiter->take("key:f", "viewer", "tasks:read", now));
  EXPECT_EQ(node.localOnly.value(), 21) << "answered by Redis again";
  EXPECT_EQ(node.log.count(LogLevel::kInfo), 1u) << node.log.all();
}

TEST(SharedRateLimit, AnUnreachableRedisFromTheStartLimitsLocally) {
  // Needs no server: nothing listens on a port just found free.
  RateLimitSettings settings = readLimits(RateLimit{1.0 / 3600, 3});
  Node node(settings, "redis://127.0.0.1:" + std::to_string(freePort()), uniquePrefix());
  int admitted = 0;
  for (int i = 0; i < 10; ++i)
    if (!node.limiter->take("key:u", "viewer", "tasks:read", wallMs())) ++admitted;
  EXPECT_EQ(admitted, 3);
  EXPECT_EQ(node.errors.value(), 1) << "one refused connection, then paused";
  EXPECT_EQ(node.log.count(LogLevel::kWarn), 1u);
}

// ---- config ----

TEST(SharedRateLimitConfig, RedisSectionIsReadAndErrorsAreAtTheirLineWithoutThePassword) {
  auto section = [](const std::vector<std::tuple<std::string, std::string, int>>& values) {
    auto redis = ConfigNode::map({"hive.yaml", 20, 7});
    for (const auto& [key, value, line] : values)
      redis.set(key, ConfigNode::scalar(value, {"hive.yaml", line, 12}), {"hive.yaml", line, 5});
    auto limits = ConfigNode::map();
    limits.set("redis", std::move(redis));
    return limits;
  };
  Diagnostics fine;
  RateLimitSettings read = readRateLimits(section({{"url", "redis://:s3cret@10.0.0.5:6380/2", 21},
                                                   {"key_prefix", "prod:rl:", 22},
                                                   {"timeout", "20ms", 23},
                                                   {"connections", "4", 24},
                                                   {"retry_interval", "2s", 25},
                                                   {"lease", "250ms", 26}}),
                                          fine);
  ASSERT_FALSE(fine.hasErrors()) << fine.items().front().toString();
  ASSERT_TRUE(read.shared);
  EXPECT_EQ(read.shared->endpoint.host, "10.0.0.5");
  EXPECT_EQ(read.shared->endpoint.port, 6380);
  EXPECT_EQ(read.shared->endpoint.database, 2);
  EXPECT_EQ(read.shared->endpoint.password, "s3cret");
  EXPECT_EQ(read.shared->keyPrefix, "prod:rl:");
  EXPECT_EQ(read.shared->timeout, 20ms);
  EXPECT_EQ(read.shared->connections, 4u);
  EXPECT_EQ(read.shared->retryInterval, 2s);
  EXPECT_EQ(read.shared->lease, 250ms);
  Diagnostics none;
  EXPECT_FALSE(readRateLimits(ConfigNode::null(), none).shared) << "local by default";

  for (auto [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"url", "http://:s3cret@host"},
                                                        {"url", "redis://:s3cret@host:99999"},
                                                        {"key_prefix", "has space"},
                                                        {"timeout", "5s"},
                                                        {"connections", "0"},
                                                        {"retry_interval", "10ms"},
                                                        {"lease", "2s"},
                                                        {"retries", "3"}}) {
    std::vector<std::tuple<std::string, std::string, int>> values{{key, value, 27}};
    if (key != "url") values.emplace_back("url", "redis://127.0.0.1", 26);
    Diagnostics refused;
    RateLimitSettings bad = readRateLimits(section(values), refused);
    ASSERT_TRUE(refused.hasErrors()) << key << ": " << value;
    std::string message = refused.items().front().toString();
    EXPECT_NE(message.find("hive.yaml:27:"), std::string::npos) << message;
    EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
    EXPECT_FALSE(bad.shared) << key;
  }
  Diagnostics missing;
  readRateLimits(section({{"key_prefix", "x:", 22}}), missing);
  ASSERT_TRUE(missing.hasErrors());
  EXPECT_NE(missing.items().front().toString().find("url"), std::string::npos);
}

}  // namespace
}  // namespace hive::security_manager
