// hive.admin/1 as the kernel provides it (provider "kernel"): the plugins'
// state and the reload controls, for the `api` plugin's health and admin routes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hive/services/admin.hpp"

namespace hive::host {

class PluginHost;
class ReloadController;

class KernelAdmin final : public admin::Kernel {
 public:
  // Reloads asked for with startReload() and not yet run; more are refused
  // (kResourceExhausted): they run one at a time, and a client that asks faster
  // than swaps complete should hear so, not grow a queue.
  static constexpr std::size_t kMaxQueuedReloads = 16;
  // Records kept for reloadRecord(), the most recent ones.
  static constexpr std::size_t kKeptRecords = 64;

  explicit KernelAdmin(PluginHost& host);
  ~KernelAdmin() override;

  // Publishes this service in the host's directory under provider "kernel".
  static Result<std::shared_ptr<KernelAdmin>> provide(PluginHost& host);

  void setPhase(admin::Phase phase) { phase_ = phase; }
  // Reloads are refused (kUnavailable) until the controller is attached, and
  // after it is detached (nullptr); detaching waits for a running reload, and
  // the queued ones fail.
  void attach(ReloadController* reloads);
  // Ends the reload thread (the queued reloads are dropped). Idempotent; the
  // destructor calls it.
  void stop();

  admin::Phase phase() const override { return phase_; }
  std::string version() const override;
  std::vector<admin::PluginState> plugins() const override;
  // Both run on the reload thread, like startReload()'s, while the caller waits
  // (on a runtime thread, counted as parked: the swap can quiesce the runtime).
  Status reloadPlugin(const std::string& name) override;
  Status reloadConfig() override;
  Result<std::uint64_t> startReload(const std::string& name) override;
  Result<admin::ReloadRecord> reloadRecord(std::uint64_t id) const override;

 private:
  // The reload thread: runs the queued jobs in order. Its code is the
  // kernel's, so it may swap the plugin that asked for the reload.
  void runJobs();
  // A job runs with true on the reload thread, or with false when the thread
  // ends first.
  using Job = std::function<void(bool run)>;
  Status push(Job job);
  // Runs `reload` on the reload thread and waits for its outcome.
  Status runAndWait(const std::function<Status()>& reload);
  Status swapNow(const std::string& name);
  void runRecorded(std::uint64_t id);
  std::uint64_t servingGeneration(const std::string& plugin) const;
  admin::ReloadRecord* record(std::uint64_t id);

  PluginHost& host_;
  std::atomic<admin::Phase> phase_{admin::Phase::kStarting};
  mutable std::mutex mutex_;  // held while a reload runs: attach(nullptr) waits for it
  ReloadController* reloads_ = nullptr;
  // Read without mutex_: startReload() is called from request threads, which
  // must not wait for a running swap (it may be the swap of their own plugin).
  std::atomic<bool> accepting_{false};

  mutable std::mutex recordsMutex_;  // never held while a reload runs
  std::condition_variable queued_;
  std::deque<admin::ReloadRecord> records_;  // oldest first
  std::deque<Job> jobs_;
  std::size_t queuedReloads_ = 0;  // jobs_ of startReload(), against kMaxQueuedReloads
  std::uint64_t nextId_ = 1;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace hive::host
