#!/usr/bin/env bash
# What security_manager's rate limiter costs per request: RateLimiter::take()
# (one principal, a read permission with the class bucket only) timed over
# N calls, built with the compiler flags given (default -O2), alone, outside
# hive. Prints nanoseconds per take.
# Usage: bench/security/rate_limiter_cost.sh [N] [CXXFLAGS...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
calls=${1:-1000000}
shift || true
flags=${*:--O2}
work=$(mktemp -d /tmp/hive-bench-limiter.XXXXXX)
trap 'rm -rf "$work"' EXIT
cat > "$work/main.cpp" <<'CPP'
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "rate_limiter.hpp"

namespace limiter = hive::security_manager;

struct Count final : hive::Counter {
  double total = 0;
  void increment(double amount) override { total += amount; }
  double value() const override { return total; }
};

int main(int argc, char** argv) {
  const long calls = argc > 1 ? std::atol(argv[1]) : 1000000;
  Count limited;
  limiter::RateLimitSettings settings;
  settings.roles["admin"]["read"] = limiter::RateLimit{1e9, 1e9};  // never refuses: the cost of passing
  limiter::RateLimiter rateLimiter(settings, limited);
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < calls; ++i) (void)rateLimiter.take("key:3f9c0a1b2c3d4e5f", "admin", "tasks:read", i / 1000);
  std::chrono::duration<double, std::nano> spent = std::chrono::steady_clock::now() - start;
  std::printf("rate limiter: %.0f ns per take over %ld calls (%.0f refused)\n", spent.count() / calls, calls,
              limited.value());
}
CPP
# shellcheck disable=SC2086
g++ -std=c++20 $flags -I"$root/plugins/security_manager" -I"$root/sdk/include" "$work/main.cpp" \
  "$root/plugins/security_manager/rate_limiter.cpp" "$root/plugins/security_manager/roles.cpp" -o "$work/limiter"
echo "flags: $flags  load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$work/limiter" "$calls"
