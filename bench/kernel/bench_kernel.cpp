// Prints: the time from `hive run` start to its "hive ready" log line with 20
// trivial plugins (a fresh process each run), and the per-plugin load time
// measured inside the kernel. Medians and p90 over N runs.
//
//   build/release/bin/bench_kernel [runs=15]
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "host/logging.hpp"
#include "host/plugin_host.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

std::string writeConfig(const fs::path& dir) {
  fs::create_directories(dir);
  std::ofstream out(dir / "hive.yaml");
  out << "hive:\n  plugin_dirs: [" << HIVE_BENCH_PLUGIN_DIR << "]\n  data_dir: " << (dir / "data").string()
      << "\n  log_level: info\nplugins:\n";
  for (int i = 1; i <= 20; ++i) out << "  bench_p" << i << ": {}\n";
  return (dir / "hive.yaml").string();
}

// Milliseconds from fork to the "hive ready" line on the child's stderr.
double timeToReady(const std::string& hive, const std::string& config) {
  int pipeFds[2];
  if (::pipe(pipeFds) != 0) return -1;
  auto begin = Clock::now();
  pid_t child = ::fork();
  if (child == 0) {
    ::dup2(pipeFds[1], 2);
    ::close(pipeFds[0]);
    ::execl(hive.c_str(), hive.c_str(), "run", "-c", config.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(pipeFds[1]);
  std::string output;
  char buffer[4096];
  double readyMs = -1;
  for (;;) {
    ssize_t n = ::read(pipeFds[0], buffer, sizeof buffer);
    if (n <= 0) break;
    output.append(buffer, static_cast<std::size_t>(n));
    if (output.find("hive ready") != std::string::npos) {
      readyMs = std::chrono::duration<double, std::milli>(Clock::now() - begin).count();
      break;
    }
  }
  ::kill(child, SIGTERM);
  while (::read(pipeFds[0], buffer, sizeof buffer) > 0) {
  }
  ::close(pipeFds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (readyMs < 0) std::fprintf(stderr, "hive did not become ready:\n%s\n", output.c_str());
  return readyMs;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = argc > 1 ? std::max(3, std::atoi(argv[1])) : 15;
  fs::path work = fs::temp_directory_path() / ("hive-bench-kernel-" + std::to_string(::getpid()));
  std::string config = writeConfig(work);
  std::string hive = (fs::path(argv[0]).parent_path() / "hive").string();

  std::vector<double> ready;
  for (int i = 0; i < runs; ++i) {
    double ms = timeToReady(hive, config);
    if (ms < 0) return 1;
    ready.push_back(ms);
  }

  std::vector<double> perPlugin;
  int devNull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  for (int i = 0; i < runs; ++i) {
    hive::Diagnostics diagnostics;
    auto kernelConfig = hive::host::loadKernelConfig(config, diagnostics);
    if (!kernelConfig.ok()) {
      std::fprintf(stderr, "%s", diagnostics.toString().c_str());
      return 1;
    }
    hive::host::LogSystem logs(hive::host::LogOutputFormat::kText, hive::LogLevel::kWarn, devNull);
    hive::host::PluginHost host(std::move(kernelConfig).value(), logs);
    if (!host.load(diagnostics).ok()) return 1;
    for (const auto& status : host.status())
      perPlugin.push_back(static_cast<double>(status.loadTime.count()) / 1000.0);
    host.stop();
  }
  fs::remove_all(work);

  std::printf("bench/kernel: %d runs, 20 trivial plugins\n", runs);
  std::printf("  hive run -> ready   median %.1f ms   p90 %.1f ms   (aim < 200 ms)\n", percentile(ready, 0.5),
              percentile(ready, 0.9));
  std::printf("  load per plugin     median %.3f ms   p90 %.3f ms   (aim < 5 ms; %zu loads)\n",
              percentile(perPlugin, 0.5), percentile(perPlugin, 0.9), perPlugin.size());
  return 0;
}
