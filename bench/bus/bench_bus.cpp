// bench_bus: hive.bus/1 figures through the real kernel and the real .so.
//
//   bench_bus [--redis redis://127.0.0.1:6379] [--events N] [--appends N] [--threads T]
//
// For the local transport, and for redis when --redis is given:
//   - publish -> deliver: N events from T publisher threads to one subscriber;
//     throughput (all delivered) and latency percentiles (publish call to callback);
//   - stream append: N appends from T threads (each append waits for its id).
// scripts: bench/bus/bench-bus.sh runs it beside redis-benchmark's XADD.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bus_host.hpp"

using namespace hive;
using namespace hive::communication_engine::test;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string redisUrl;
  int events = 100'000;
  int appends = 200'000;
  int threads = 16;
};

std::int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

void benchEvents(const char* name, bus::Bus& bus, int events, int threads) {
  std::mutex mutex;
  std::vector<std::int64_t> latencies;
  latencies.reserve(static_cast<std::size_t>(events));
  std::atomic<int> received{0};
  auto subscription = bus.subscribe("bench.*", [&](const bus::Event& event) {
    std::int64_t sent = std::strtoll(event.payload.c_str(), nullptr, 10);
    std::lock_guard lock(mutex);
    latencies.push_back(nowNs() - sent);
    received.fetch_add(1);
  });
  // Warm up (and make sure the subscription is live through the server).
  while (received.load() == 0) {
    (void)bus.publish("bench.warmup", std::to_string(nowNs()));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    std::lock_guard lock(mutex);
    latencies.clear();
    received = 0;
  }
  std::atomic<int> failed{0};
  auto start = Clock::now();
  std::vector<std::thread> publishers;
  for (int t = 0; t < threads; ++t) {
    publishers.emplace_back([&, t] {
      for (int i = t; i < events; i += threads) {
        std::string topic = "bench.p" + std::to_string(t);
        while (!bus.publish(topic, std::to_string(nowNs())).ok()) {
          failed.fetch_add(1);  // buffer or queue full: back off and try again
          std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
      }
    });
  }
  for (auto& p : publishers) p.join();
  auto published = Clock::now();
  auto deadline = Clock::now() + std::chrono::seconds(120);
  while (received.load() < events && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  auto done = Clock::now();
  std::vector<std::int64_t> sorted;
  {
    std::lock_guard lock(mutex);
    sorted = latencies;
  }
  std::sort(sorted.begin(), sorted.end());
  auto pct = [&](double p) {
    if (sorted.empty()) return 0.0;
    return static_cast<double>(sorted[static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1))]) /
           1e3;
  };
  std::printf(
      "%-6s publish->deliver: %d events, %d publishers: publish %.0f/s, delivered %d at %.0f/s; "
      "latency p50 %.0f us, p99 %.0f us, max %.0f us; %d retries on a full buffer\n",
      name, events, threads, events / seconds(published - start), received.load(),
      received.load() / seconds(done - start), pct(0.5), pct(0.99), pct(1.0), failed.load());
}

double benchAppends(const char* name, bus::Bus& bus, int appends, int threads) {
  std::atomic<int> failed{0};
  auto start = Clock::now();
  std::vector<std::thread> appenders;
  std::string payload(16, 'x');
  for (int t = 0; t < threads; ++t) {
    appenders.emplace_back([&, t] {
      for (int i = t; i < appends; i += threads)
        if (!bus.append("bench", payload).ok()) failed.fetch_add(1);
    });
  }
  for (auto& a : appenders) a.join();
  double rate = appends / seconds(Clock::now() - start);
  std::printf("%-6s stream append: %d appends from %d threads: %.0f appends/s (%d failed)\n", name, appends,
              threads, rate, failed.load());
  (void)bus.trim("bench", 0);
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--redis")
      options.redisUrl = argv[i + 1];
    else if (flag == "--events")
      options.events = std::atoi(argv[i + 1]);
    else if (flag == "--appends")
      options.appends = std::atoi(argv[i + 1]);
    else if (flag == "--threads")
      options.threads = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 64;
    }
  }
  {
    ConfigNode section = ConfigNode::map();
    section.set("transport", ConfigNode::scalar("local"));
    section.set("dispatch_queue", ConfigNode::scalar("1000000"));
    BusHost host(std::move(section));
    if (host.bus() == nullptr) {
      std::fprintf(stderr, "local bus did not start: %s\n", host.error().c_str());
      return 1;
    }
    benchEvents("local", *host.bus(), options.events, 1);
    benchEvents("local", *host.bus(), options.events, options.threads);
    benchAppends("local", *host.bus(), options.appends, options.threads);
  }
  if (!options.redisUrl.empty()) {
    BusHost host(redisSection(options.redisUrl, "bench:" + std::to_string(::getpid()) + ":",
                              {{"buffer", "100000"}}, {{"dispatch_queue", "1000000"}}));
    if (host.bus() == nullptr) {
      std::fprintf(stderr, "redis bus did not start: %s\n", host.error().c_str());
      return 1;
    }
    benchEvents("redis", *host.bus(), options.events / 4, 1);
    benchEvents("redis", *host.bus(), options.events, options.threads);
    double rate = benchAppends("redis", *host.bus(), options.appends, options.threads);
    std::printf("RESULT redis_append_per_second %.0f\n", rate);
  }
  return 0;
}
