// hive.watchdog/1 as the kernel provides it (provider "kernel"): heartbeats
// of plugin threads, a checker thread that logs and counts stalls, and the
// list of stalled threads that /livez answers with.
//
// A heartbeat is two atomics that its thread stores to; nothing it does takes
// a lock, so a thread that beats while another is wedged holding some lock of
// its plugin is never slowed by the watchdog. stalled() reads the same atomics
// when asked, so /livez turns 503 the moment a limit passes, whether or not
// the checker has looked yet.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "hive/log.hpp"
#include "hive/metrics.hpp"
#include "hive/services/watchdog.hpp"

namespace hive::host {

class PluginHost;

class KernelWatchdog final : public watchdog::Watchdog {
 public:
  KernelWatchdog(std::chrono::milliseconds period, Logger& log, Metrics& metrics);
  ~KernelWatchdog() override;
  KernelWatchdog(const KernelWatchdog&) = delete;
  KernelWatchdog& operator=(const KernelWatchdog&) = delete;

  // Creates it, publishes it in the host's directory under provider "kernel"
  // and starts its checker thread.
  static Result<std::shared_ptr<KernelWatchdog>> provide(PluginHost& host, Logger& log);

  // The checker: looks every period / 4 (at most once a second), logs each
  // stall and each recovery once. stop() is idempotent.
  void start();
  void stop();

  // hive::watchdog::Watchdog
  std::unique_ptr<watchdog::Heartbeat> watch(const std::string& name,
                                             std::chrono::milliseconds limit) override;
  std::chrono::milliseconds period() const override { return period_; }
  std::vector<watchdog::Stall> stalled() const override;

  struct Entry;
  struct Shared;

 private:
  void check();

  std::chrono::milliseconds period_;
  Logger& log_;
  Metrics& metrics_;
  std::shared_ptr<Shared> shared_;
  std::thread checker_;
  std::mutex stopMutex_;
  std::condition_variable stopChanged_;
  bool stopping_ = false;
};

}  // namespace hive::host
