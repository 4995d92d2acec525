#!/usr/bin/env bash
# What security_manager's rate limiter costs per request: RateLimiter::take()
# (one principal, a read permission with the class bucket only) timed over
# N calls, built with the compiler flags given (default -O2), alone, outside
# hive. Prints nanoseconds per take.
#
# With REDIS_URL set (redis://host:port, e.g. scripts/test-servers'
# HIVE_TEST_REDIS_URL) it also times the shared mode (rate_limits.redis: GCRA in
# Redis) on SHARED_CALLS calls (default 20000): with the default lease (100 ms:
# 64 cells per round trip at this rate), with lease 0 (one EVALSHA round trip per
# request) from one thread and from 4 threads at once (the api's I/O threads),
# and a caller Redis has refused (answered by the local bucket, no round trip). Keys go under "hive-bench:<pid>:" and expire by themselves.
# Usage: [REDIS_URL=...] bench/security/rate_limiter_cost.sh [N] [CXXFLAGS...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
calls=${1:-1000000}
shift || true
flags=${*:--O2}
shared_calls=${SHARED_CALLS:-20000}
work=$(mktemp -d /tmp/hive-bench-limiter.XXXXXX)
trap 'rm -rf "$work"' EXIT
cat > "$work/main.cpp" <<'CPP'
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rate_limiter.hpp"

namespace limiter = hive::security_manager;

struct Count final : hive::Counter {
  std::atomic<double> total{0};
  void increment(double amount) override { total = total + amount; }
  double value() const override { return total; }
};

struct Quiet final : hive::Logger {
  void log(hive::LogLevel, std::string_view message) override {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(message.size()), message.data());
  }
  bool enabled(hive::LogLevel) const override { return true; }
};

std::int64_t wallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// `threads` callers, `calls` takes in all; prints the time per take and takes/s.
void time(const char* label, limiter::RateLimiter& rateLimiter, Count& limited, int threads, long calls,
          const std::string& principal) {
  double before = limited.value();
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t)
    running.emplace_back([&] {
      for (long i = 0; i < calls / threads; ++i) (void)rateLimiter.take(principal, "admin", "tasks:read", wallMs());
    });
  for (auto& thread : running) thread.join();
  std::chrono::duration<double> spent = std::chrono::steady_clock::now() - start;
  std::printf("%-34s %9.0f ns per take (%d thread%s), %9.0f takes/s over %ld calls (%.0f refused)\n", label,
              spent.count() * 1e9 / (calls / threads), threads, threads == 1 ? "" : "s", calls / spent.count(),
              calls, limited.value() - before);
}

int main(int argc, char** argv) {
  const long calls = argc > 1 ? std::atol(argv[1]) : 1000000;
  const long sharedCalls = argc > 2 ? std::atol(argv[2]) : 20000;
  Count limited;
  limiter::RateLimitSettings settings;
  settings.roles["admin"]["read"] = limiter::RateLimit{1e9, 1e9};  // never refuses: the cost of passing
  {
    limiter::RateLimiter rateLimiter(settings, limited);
    auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < calls; ++i)
      (void)rateLimiter.take("key:3f9c0a1b2c3d4e5f", "admin", "tasks:read", i / 1000);
    std::chrono::duration<double, std::nano> spent = std::chrono::steady_clock::now() - start;
    std::printf("rate limiter: %.0f ns per take over %ld calls (%.0f refused)\n", spent.count() / calls, calls,
                limited.value());
  }
  const char* url = std::getenv("REDIS_URL");
  if (url == nullptr || *url == '\0') return 0;
  auto endpoint = hive::plugin_common::parseRedisUrl(url);
  if (!endpoint.ok()) {
    std::fprintf(stderr, "REDIS_URL: %s\n", endpoint.status().message().c_str());
    return 1;
  }
  Count errors, localOnly;
  Quiet log;
  limiter::SharedLimitSettings shared;
  shared.endpoint = *endpoint;
  shared.keyPrefix = "hive-bench:" + std::to_string(::getpid()) + ":";
  settings.shared = shared;
  limiter::RateLimiter local(settings, limited);
  limiter::RateLimiter sharedLimiter(
      settings, limited,
      std::make_unique<limiter::RedisBuckets>(shared, limiter::SharedLimitMetrics{errors, localOnly}, log));
  std::printf("shared mode, Redis at %s:\n", endpoint->redacted().c_str());
  time("  local only", local, limited, 1, sharedCalls, "key:local");
  time("  shared, lease 100ms (up to 64)", sharedLimiter, limited, 1, sharedCalls, "key:lease");
  // lease 0: one round trip per request, what a principal far below rate × lease gets.
  limiter::RateLimitSettings exact = settings;
  exact.shared->lease = std::chrono::milliseconds(0);
  limiter::RateLimiter exactLimiter(
      exact, limited,
      std::make_unique<limiter::RedisBuckets>(*exact.shared, limiter::SharedLimitMetrics{errors, localOnly}, log));
  time("  shared, lease 0, admitted", exactLimiter, limited, 1, sharedCalls, "key:one");
  time("  shared, lease 0, admitted", exactLimiter, limited, 4, sharedCalls, "key:four");
  // A caller over its budget: Redis refuses once, then the local bucket does.
  limiter::RateLimitSettings tight = settings;
  tight.roles["admin"]["read"] = limiter::RateLimit{1.0 / 3600, 1};
  limiter::RateLimiter refusing(
      tight, limited,
      std::make_unique<limiter::RedisBuckets>(shared, limiter::SharedLimitMetrics{errors, localOnly}, log));
  time("  shared, over budget (refused)", refusing, limited, 1, sharedCalls, "key:over");
  std::printf("  Redis errors %.0f, decided locally %.0f\n", errors.value(), localOnly.value());
}
CPP
# shellcheck disable=SC2086
g++ -std=c++20 $flags -I"$root/plugins/security_manager" -I"$root/sdk/include" -I"$root/plugins/common/include" \
  "$work/main.cpp" "$root/plugins/security_manager/rate_limiter.cpp" "$root/plugins/security_manager/redis_buckets.cpp" \
  "$root/plugins/security_manager/roles.cpp" -lhiredis -lsodium -lcrypto -pthread -o "$work/limiter"
echo "flags: $flags  load: $(cut -d' ' -f1-3 /proc/loadavg)  (nproc $(nproc))"
"$work/limiter" "$calls" "$shared_calls"
