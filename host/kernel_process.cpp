#include "host/kernel_process.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "host/kernel_admin.hpp"
#include "host/kernel_health.hpp"
#include "host/logging.hpp"
#include "host/plugin_host.hpp"
#include "host/reload_controller.hpp"
#include "host/systemd_notify.hpp"
#include "host/watchdog.hpp"

namespace hive::host {
namespace {

using Clock = std::chrono::steady_clock;

LogOutputFormat outputFormat(LogFormat format) {
  return format == LogFormat::kJson ? LogOutputFormat::kJson : LogOutputFormat::kText;
}

// The first plugin not yet started, in start order: the one start() is in.
std::string pluginStarting(const PluginHost& host) {
  for (const auto& p : host.status())
    if (p.state == PluginState::kConfigured) return p.name;
  return "none";
}

// Waits up to `slice` for SIGTERM/SIGINT/SIGHUP; the signal, or 0.
int takeSignal(const sigset_t& signals, std::chrono::nanoseconds slice) {
  slice =
      std::clamp(slice, std::chrono::nanoseconds(0), std::chrono::nanoseconds(std::chrono::milliseconds(50)));
  timespec wait{0, static_cast<long>(slice.count())};
  int signal = sigtimedwait(&signals, nullptr, &wait);
  return signal < 0 ? 0 : signal;
}

// Stops every plugin, in reverse order, by `deadline`; past it, or on a second
// SIGTERM/SIGINT, exits at once. Returns normally only when all stopped.
void stopBy(PluginHost& host, Clock::time_point deadline, std::chrono::milliseconds drainDeadline,
            const sigset_t& signals, Logger& log, LogSystem& logs) {
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    host.stop();
    stopped = true;
  });
  while (!stopped) {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      log.error("stop deadline of " + std::to_string(drainDeadline.count()) + " ms passed; exiting now");
      logs.flush();
      _exit(1);
    }
    int signal = takeSignal(signals, left);
    if (signal == SIGTERM || signal == SIGINT) {
      log.warn("second signal: exiting now");
      logs.flush();
      _exit(130);
    }
  }
  stopper.join();
}

// Runs `stop` when its scope ends, whichever way it ends: each start is
// followed at once by its guard, so what started stops, in reverse order.
template <typename Stop>
class StopGuard {
 public:
  explicit StopGuard(Stop stop) : stop_(std::move(stop)) {}
  ~StopGuard() { stop_(); }
  StopGuard(const StopGuard&) = delete;
  StopGuard& operator=(const StopGuard&) = delete;

 private:
  Stop stop_;
};

// Runs host.start() on a thread of its own so that signals are still taken
// while a plugin starts: a plugin stuck on its data must not make Hive
// unkillable, and start-up as a whole is bounded by start_timeout. A stop
// asked for meanwhile sets `stopDeadline`.
Status startTaking(PluginHost& host, const sigset_t& signals, std::optional<Clock::time_point>& stopDeadline,
                   Logger& log, LogSystem& logs) {
  Status started;
  std::atomic<bool> startReturned{false};
  std::thread starter([&] {
    started = host.start();
    startReturned = true;
  });
  const auto drainDeadline = host.config().drainDeadline;
  const auto startDeadline = Clock::now() + host.config().startTimeout;
  auto exitNow = [&](int status, const std::string& why) {
    log.error(why + " (plugin starting: " + pluginStarting(host) + "); exiting now");
    logs.flush();
    _exit(status);
  };
  while (!startReturned) {
    int signal = takeSignal(signals, std::chrono::milliseconds(50));
    auto now = Clock::now();
    if ((signal == SIGTERM || signal == SIGINT) && stopDeadline)
      exitNow(130, "second signal during start-up");
    if (signal == SIGTERM || signal == SIGINT) {
      log.warn("stop requested while starting (plugin starting: " + pluginStarting(host) +
               "); stopping once it returns, within " + std::to_string(drainDeadline.count()) + " ms");
      stopDeadline = now + drainDeadline;
    } else if (signal == SIGHUP) {
      log.warn("SIGHUP during start-up ignored: nothing to reload yet");
    }
    if (stopDeadline && now >= *stopDeadline) exitNow(1, "start-up did not return within the drain deadline");
    if (now >= startDeadline)
      exitNow(1, "start-up did not finish within start_timeout (" +
                     std::to_string(host.config().startTimeout.count()) + " ms)");
  }
  starter.join();
  return started;
}

// Serves until SIGTERM or SIGINT: SIGHUP reloads, and once a second libraries
// whose last lease went (a replaced generation pinned by a consumer) close.
void serve(PluginHost& host, ReloadController& reloads, const sigset_t& signals, Logger& log) {
  for (;;) {
    timespec second{1, 0};
    int signal = sigtimedwait(&signals, nullptr, &second);
    if (signal < 0) {
      if (!host.retired().empty()) host.reapLibraries();
    } else if (signal == SIGHUP) {
      log.info("SIGHUP: reloading the configuration and rescanning plugin directories");
      notifyReloading();
      (void)reloads.reloadConfig();
      (void)reloads.rescanPlugins();
      notifyServiceManager("READY=1");
    } else if (signal == SIGTERM || signal == SIGINT) {
      return;
    }
  }
}

}  // namespace

sigset_t blockKernelSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  for (int signal : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, signal);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int runKernel(KernelConfig config, const std::vector<std::string>& configFiles, const sigset_t& signals,
              Clock::time_point begin) {
  LogSystem logs(outputFormat(config.logFormat), config.logLevel);
  auto log = logs.logger("kernel");
  PluginHost host(std::move(config), logs);
  Diagnostics diagnostics;
  Status loaded = host.load(diagnostics);
  for (const auto& d : diagnostics.items())
    log->log(d.severity == Severity::kError ? LogLevel::kError : LogLevel::kWarn, d.toString());
  auto notStarting = [&](const Status& why) {
    log->error("not starting: " + why.message());
    return 1;
  };
  auto admin = loaded.ok() ? KernelAdmin::provide(host) : Result<std::shared_ptr<KernelAdmin>>(loaded);
  if (!admin.ok()) return notStarting(admin.status());
  StopGuard stopAdmin([&] { (*admin)->stop(); });
  if (auto checker = KernelHealth::provide(host); !checker.ok()) return notStarting(checker.status());
  auto watchdog = KernelWatchdog::provide(host, *log);
  if (!watchdog.ok()) return notStarting(watchdog.status());
  StopGuard stopWatchdog([&] { (*watchdog)->stop(); });
  // The plugins stop while the watchdog still watches, within the drain
  // deadline (as reloaded, if it was; from the signal when one came during start-up).
  std::optional<Clock::time_point> stopDeadline;
  StopGuard stopHost([&] {
    auto deadline = host.config().drainDeadline;
    stopBy(host, stopDeadline.value_or(Clock::now() + deadline), deadline, signals, *log, logs);
    log->info("stopped");
  });
  Status started = startTaking(host, signals, stopDeadline, *log, logs);
  if (stopDeadline) {
    log->info("stopping (start-up was interrupted)");
    return started.ok() ? 0 : 1;
  }
  if (!started.ok()) return notStarting(started);
  std::size_t running = 0, failed = 0;
  for (const auto& p : host.status()) (p.state == PluginState::kStarted ? running : failed)++;
  auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - begin);
  log->info("hive ready: " + std::to_string(running) + " plugins started, " + std::to_string(failed) +
            " failed, in " + fmt::format("{:.1f}", elapsed.count() / 1000.0) + " ms");

  ReloadController reloads(host, {configFiles, std::chrono::milliseconds(200), true}, *log);
  if (Status watching = reloads.start(); !watching.ok()) return notStarting(watching);
  (*admin)->attach(&reloads);
  (*admin)->setPhase(admin::Phase::kReady);
  notifyServiceManager("READY=1\nSTATUS=" + std::to_string(running) + " plugins started, " +
                       std::to_string(failed) + " failed");
  StopGuard detach([&] {
    log->info("stopping (a second signal exits at once)");
    notifyServiceManager("STOPPING=1");
    (*admin)->setPhase(admin::Phase::kDraining);
    (*admin)->attach(nullptr);  // waits for a running reload
    reloads.stop();
  });
  serve(host, reloads, signals, *log);
  return 0;
}

}  // namespace hive::host
