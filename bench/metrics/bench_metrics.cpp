// What GET /metrics costs, and what it costs the task path while it runs.
//
//   bench_metrics [--routes N] [--seconds S] [--threads T]
//
// Fills a kernel MetricsRegistry (host/metrics.hpp, the one plugins record
// into) with a busy hive's families — HTTP requests by route/method/status,
// a duration histogram per route, plugin gauges, bus and store counters — then
// prints:
//   1. exposition(): median and p99 time and bytes for one render, and the
//      OpenMetrics rewrite (monitoring_engine/exposition.cpp) on top; then a
//      registry lookup alone and while a scraper renders back to back;
//   2. the hot path: T threads doing counter increments + histogram
//      observations, T threads doing registry lookups (counter(name, labels):
//      what a plugin does the first time it meets a label set, and what takes
//      the registry's mutex), each for S seconds with no scraper, with a
//      scraper every 1 s (what the issue asks), and every 10 ms (100 times
//      that): operations per second and the ratio to no scraper.
// Not run by ctest: a benchmark prints figures; it asserts nothing.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "exposition.hpp"
#include "host/logging.hpp"
#include "host/metrics.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int routes = 40;
  double seconds = 3;
  int threads = 1;
};

void fill(hive::host::MetricsRegistry& registry, int routes) {
  const char* methods[] = {"GET", "POST"};
  const char* statuses[] = {"200", "404", "503"};
  for (int r = 0; r < routes; ++r) {
    std::string route = "/api/v2/resource" + std::to_string(r) + "/{id}";
    for (const char* method : methods) {
      registry
          .histogram("hive_http_request_duration_seconds", "Request time", {},
                     {{"route", route}, {"method", method}})
          .observe(0.002);
      for (const char* status : statuses)
        registry
            .counter("hive_http_requests_total", "Requests",
                     {{"route", route}, {"method", method}, {"status", status}})
            .increment(r + 1);
    }
  }
  for (int p = 0; p < 10; ++p) {
    std::string plugin = "plugin" + std::to_string(p);
    registry.gauge("hive_plugin_up", "Up", {{"plugin", plugin}}).set(1);
    registry.gauge("hive_plugin_healthy", "Healthy", {{"plugin", plugin}}).set(1);
    registry.gauge("hive_plugin_generation", "Generation", {{"plugin", plugin}}).set(1);
  }
  for (int i = 0; i < 20; ++i)
    registry.counter("hive_misc_" + std::to_string(i) + "_total", "Misc").increment(i);
}

struct Percentiles {
  double median = 0, p99 = 0;
};

Percentiles measure(int rounds, const std::function<void()>& work) {
  std::vector<double> us;
  for (int i = 0; i < rounds; ++i) {
    auto begin = Clock::now();
    work();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - begin).count());
  }
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)]};
}

// Operations per second of `threads` hot-path threads while a scraper renders
// every `scrapeEvery` (zero: no scraper).
// With `lookups`, the slowest lookups (microseconds) go to `slowest`: a lookup
// that waited for a scrape's lock shows there.
double hotPath(hive::host::MetricsRegistry& registry, const Options& options, bool lookups,
               std::chrono::milliseconds scrapeEvery, int& scrapes, Percentiles* slowest = nullptr) {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> operations{0};
  hive::Counter& counter = registry.counter("hive_tasks_submitted_total", "Submitted", {{"capability", "a"}});
  hive::Histogram& histogram =
      registry.histogram("hive_tasks_run_seconds", "Run time", {}, {{"capability", "a"}});
  std::vector<std::thread> workers;
  std::mutex latencyMutex;
  std::vector<double> latencies;
  for (int t = 0; t < options.threads; ++t)
    workers.emplace_back([&, t] {
      std::uint64_t done = 0;
      std::vector<double> mine;
      std::string capability = "cap" + std::to_string(t);
      while (!stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 256; ++i) {
          if (lookups) {
            auto begin = Clock::now();
            registry
                .counter("hive_tasks_finished_total", "Finished",
                         {{"capability", capability}, {"status", "succeeded"}})
                .increment();
            mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - begin).count());
          } else {
            counter.increment();
            histogram.observe(0.001 * (i % 50));
          }
        }
        done += 256;
      }
      operations += done;
      std::lock_guard lock(latencyMutex);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  std::thread scraper;
  scrapes = 0;
  if (scrapeEvery.count() > 0)
    scraper = std::thread([&] {
      while (!stop.load()) {
        std::string text = registry.exposition();
        std::string open = hive::monitoring_engine::toOpenMetrics(text);
        ++scrapes;
        auto until = Clock::now() + scrapeEvery;
        while (!stop.load() && Clock::now() < until)
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds));
  stop = true;
  for (auto& w : workers) w.join();
  if (scraper.joinable()) scraper.join();
  if (slowest != nullptr && !latencies.empty()) {
    std::sort(latencies.begin(), latencies.end());
    slowest->median = latencies[latencies.size() * 999 / 1000];
    slowest->p99 = latencies.back();
  }
  return static_cast<double>(operations.load()) / options.seconds;
}

// Registry lookups (a label set: each takes the registry's mutex) made while a
// scraper renders back to back, without pause — the worst case of "scraped
// often". If exposition() held the mutex while formatting, a lookup would
// wait for half a render on average.
Percentiles lookupsDuringScrapes(hive::host::MetricsRegistry& registry, int lookups, double& mean) {
  std::atomic<bool> stop{false};
  std::thread scraper([&] {
    while (!stop.load()) std::string text = registry.exposition();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::vector<double> us;
  for (int i = 0; i < lookups; ++i) {
    auto begin = Clock::now();
    registry.counter("hive_bench_lookups_total", "Lookups", {{"round", std::to_string(i % 8)}}).increment();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - begin).count());
    for (auto until = Clock::now() + std::chrono::microseconds(20); Clock::now() < until;) {
    }
  }
  stop = true;
  scraper.join();
  mean = 0;
  for (double u : us) mean += u / static_cast<double>(us.size());
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)]};
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--routes") == 0)
      options.routes = std::max(1, std::atoi(argv[i + 1]));
    else if (std::strcmp(argv[i], "--seconds") == 0)
      options.seconds = std::max(0.5, std::atof(argv[i + 1]));
    else if (std::strcmp(argv[i], "--threads") == 0)
      options.threads = std::max(1, std::atoi(argv[i + 1]));
    else {
      std::fprintf(stderr, "usage: bench_metrics [--routes N] [--seconds S] [--threads T]\n");
      return 2;
    }
  }
  hive::host::LogSystem logs(hive::host::LogOutputFormat::kText, hive::LogLevel::kCritical);
  auto log = logs.logger("kernel");
  hive::host::MetricsRegistry registry(*log);
  fill(registry, options.routes);
  std::string text = registry.exposition();
  std::size_t samples = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  std::string open = hive::monitoring_engine::toOpenMetrics(text);
  std::printf("registry: %d routes, %zu lines, %zu bytes (OpenMetrics %zu bytes)\n", options.routes, samples,
              text.size(), open.size());
  auto render = measure(200, [&] { text = registry.exposition(); });
  auto rewrite = measure(200, [&] { open = hive::monitoring_engine::toOpenMetrics(text); });
  std::printf("exposition():     median %8.1f us   p99 %8.1f us\n", render.median, render.p99);
  std::printf("toOpenMetrics():  median %8.1f us   p99 %8.1f us   (no lock)\n", rewrite.median, rewrite.p99);

  double meanDuring = 0;
  auto alone = measure(2000, [&] {
    registry.counter("hive_bench_lookups_total", "Lookups", {{"round", "alone"}}).increment();
  });
  auto during = lookupsDuringScrapes(registry, 2000, meanDuring);
  std::printf("a lookup, no scraper:                 median %8.1f us   p99 %8.1f us\n", alone.median,
              alone.p99);
  std::printf("a lookup, scrapes back to back:       median %8.1f us   p99 %8.1f us   mean %8.1f us\n",
              during.median, during.p99, meanDuring);

  for (bool lookups : {false, true}) {
    int scrapes = 0;
    Percentiles slow;
    double quiet = hotPath(registry, options, lookups, std::chrono::milliseconds(0), scrapes, &slow);
    std::printf("%s, %d thread(s):\n",
                lookups ? "registry lookups (counter(name, labels) per call)"
                        : "increments + observations (instruments kept)",
                options.threads);
    std::printf("  no scraper:          %12.0f ops/s", quiet);
    if (lookups) std::printf("  slowest lookups: p99.9 %.0f us, max %.0f us", slow.median, slow.p99);
    std::printf("\n");
    for (auto every : {std::chrono::milliseconds(1000), std::chrono::milliseconds(10)}) {
      double busy = hotPath(registry, options, lookups, every, scrapes, &slow);
      std::printf("  scrape every %4lld ms: %12.0f ops/s  (%.3fx, %d scrapes)",
                  static_cast<long long>(every.count()), busy, busy / quiet, scrapes);
      if (lookups) std::printf("  slowest lookups: p99.9 %.0f us, max %.0f us", slow.median, slow.p99);
      std::printf("\n");
    }
  }
  return 0;
}
