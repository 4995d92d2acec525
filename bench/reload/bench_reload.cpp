// Prints hot-swap latency (trigger -> new generation serving), median and p99
// over N swaps, both for a direct reload and for a file dropped into a watched
// directory; and the cost of a lease per call against a plain virtual call.
//
//   build/release/bin/bench_reload [swaps=100]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "host/logging.hpp"
#include "host/plugin_host.hpp"
#include "host/reload_controller.hpp"
#include "host/service_registry.hpp"
#include "swap_counter_service.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using hive::test::SwapCounter;

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

// Keeps the optimiser from dropping the measured calls.
volatile std::int64_t sink;

}  // namespace

int main(int argc, char** argv) {
  int swaps = argc > 1 ? std::max(10, std::atoi(argv[1])) : 100;
  fs::path work = fs::temp_directory_path() / ("hive-bench-reload-" + std::to_string(::getpid()));
  fs::path plugins = work / "plugins";
  fs::create_directories(plugins);
  const fs::path builds[] = {fs::path(HIVE_SWAP_PLUGIN_DIR) / "swap_v1-1.0.0.so",
                             fs::path(HIVE_SWAP_PLUGIN_DIR) / "swap_v2-1.1.0.so"};
  fs::copy_file(builds[0], plugins / "swap_counter.so");

  hive::host::KernelConfig config;
  config.pluginDirectories = {plugins.string()};
  config.dataDirectory = (work / "data").string();
  hive::host::PluginEntry entry;
  entry.name = "swap_counter";
  entry.config = hive::ConfigNode::map();
  config.plugins.push_back(entry);
  int devNull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  hive::host::LogSystem logs(hive::host::LogOutputFormat::kText, hive::LogLevel::kWarn, devNull);
  hive::host::PluginHost host(config, logs);
  hive::Diagnostics diagnostics;
  if (!host.load(diagnostics).ok() || !host.start().ok()) {
    std::fprintf(stderr, "cannot start: %s\n", diagnostics.toString().c_str());
    return 1;
  }
  auto slot = host.services().slot({"test.swap_counter", 1}, "swap_counter");
  hive::ServiceHandle<SwapCounter> handle(*slot);

  // Direct: reload() returns once the new generation serves.
  std::vector<double> direct;
  for (int i = 0; i < swaps; ++i) {
    fs::copy_file(builds[(i + 1) % 2], plugins / "swap_counter.so", fs::copy_options::overwrite_existing);
    auto begin = Clock::now();
    if (!host.reload("swap_counter").ok()) return 1;
    direct.push_back(std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
  }

  // Watched: from the rename into the directory until the new build answers.
  auto log = logs.logger("bench");
  const auto settle = std::chrono::milliseconds(20);
  hive::host::ReloadController watcher(host, {{}, settle, true}, *log);
  if (!watcher.start().ok()) return 1;
  std::vector<double> watched;
  int watchedSwaps = std::min(swaps, 50);
  for (int i = 0; i < watchedSwaps; ++i) {
    std::string want = (swaps + i + 1) % 2 == 0 ? "v1" : "v2";
    fs::copy_file(builds[(swaps + i + 1) % 2], plugins / ".next", fs::copy_options::overwrite_existing);
    auto begin = Clock::now();
    fs::rename(plugins / ".next", plugins / "swap_counter.so");
    while (handle.lease()->build() != want) std::this_thread::sleep_for(std::chrono::microseconds(100));
    watched.push_back(std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
  }
  watcher.stop();

  // Lease per call against a plain virtual call through a held pointer.
  const int calls = 5'000'000;
  auto held = handle.lease();
  SwapCounter* plain = &*held;
  auto begin = Clock::now();
  for (int i = 0; i < calls; ++i) sink = plain->next();
  double plainNs = std::chrono::duration<double, std::nano>(Clock::now() - begin).count() / calls;
  held = {};
  begin = Clock::now();
  for (int i = 0; i < calls; ++i) sink = handle.lease()->next();
  double leaseNs = std::chrono::duration<double, std::nano>(Clock::now() - begin).count() / calls;

  handle = {};
  host.stop();
  fs::remove_all(work);

  std::printf("bench/reload: swap_counter v1 <-> v2 (Asio timer, state handoff)\n");
  std::printf("  direct reload -> serving   median %.2f ms   p99 %.2f ms   (%d swaps; aim: median < 50 ms)\n",
              percentile(direct, 0.5), percentile(direct, 0.99), swaps);
  std::printf(
      "  file renamed -> serving    median %.2f ms   p99 %.2f ms   (%d swaps, settle %lld ms included)\n",
      percentile(watched, 0.5), percentile(watched, 0.99), watchedSwaps,
      static_cast<long long>(settle.count()));
  std::printf(
      "  call via lease             %.1f ns   plain virtual call %.1f ns   ratio %.1fx   (%d calls each)\n",
      leaseNs, plainNs, leaseNs / plainNs, calls);
  return 0;
}
