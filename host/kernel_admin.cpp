#include "host/kernel_admin.hpp"

#include <algorithm>
#include <future>

#include "host/plugin_host.hpp"
#include "host/reload_controller.hpp"
#include "host/runtime.hpp"
#include "host/service_registry.hpp"

namespace hive::host {

KernelAdmin::KernelAdmin(PluginHost& host) : host_(host), worker_([this] { runJobs(); }) {}

KernelAdmin::~KernelAdmin() { stop(); }

void KernelAdmin::stop() {
  {
    std::lock_guard lock(recordsMutex_);
    stopping_ = true;
  }
  queued_.notify_all();
  if (worker_.joinable()) worker_.join();
}

Result<std::shared_ptr<KernelAdmin>> KernelAdmin::provide(PluginHost& host) {
  auto admin = std::make_shared<KernelAdmin>(host);
  ServiceKey key{admin::Kernel::kServiceId.name, admin::Kernel::kServiceId.major};
  // Order 0: the kernel comes before every plugin; nothing to pin (not a library).
  HIVE_TRY(host.services().provide("kernel", 0, key, admin, nullptr));
  return admin;
}

void KernelAdmin::attach(ReloadController* reloads) {
  std::lock_guard lock(mutex_);
  reloads_ = reloads;
  accepting_ = reloads != nullptr;
}

std::string KernelAdmin::version() const { return HIVE_VERSION; }

std::vector<admin::PluginState> KernelAdmin::plugins() const {
  std::vector<admin::PluginState> out;
  for (const auto& s : host_.status()) {
    admin::PluginState p;
    p.name = s.name;
    p.version = s.version;
    p.state = std::string(pluginStateName(s.state));
    p.generation = s.generation;
    p.file = s.path;
    p.error = s.state == PluginState::kFailed ? s.reason : s.lastReloadError;
    p.leasesInFlight = s.leasesInFlight;
    out.push_back(std::move(p));
  }
  for (const auto& r : host_.retired()) {
    if (r.state != "zombie") continue;
    admin::PluginState p;
    p.name = r.name;
    p.version = r.version;
    p.state = "zombie";
    p.generation = r.generation;
    p.error = r.reason;
    out.push_back(std::move(p));
  }
  return out;
}

Status KernelAdmin::swapNow(const std::string& name) {
  std::lock_guard lock(mutex_);
  if (reloads_ == nullptr)
    return unavailable("the kernel is not accepting reloads now (starting or stopping)");
  return reloads_->reloadPlugin(name);
}

Status KernelAdmin::reloadPlugin(const std::string& name) {
  return runAndWait([this, name] { return swapNow(name); });
}

Status KernelAdmin::reloadConfig() {
  return runAndWait([this] {
    std::lock_guard lock(mutex_);
    if (reloads_ == nullptr)
      return unavailable("the kernel is not accepting reloads now (starting or stopping)");
    return reloads_->reloadConfig();
  });
}

Status KernelAdmin::push(Job job) {
  {
    std::lock_guard lock(recordsMutex_);
    if (stopping_) return unavailable("the kernel is stopping");
    jobs_.push_back(std::move(job));
  }
  queued_.notify_one();
  return okStatus();
}

Status KernelAdmin::runAndWait(const std::function<Status()>& reload) {
  // A plugin's start() or stop() inside a swap runs on the reload thread already.
  if (std::this_thread::get_id() == worker_.get_id()) return reload();
  auto outcome = std::make_shared<std::promise<Status>>();
  std::future<Status> done = outcome->get_future();
  HIVE_TRY(push([outcome, reload](bool run) {
    outcome->set_value(run ? reload() : unavailable("the kernel is stopping"));
  }));
  // A blocking thread of a plugin waits here: as parked, so that the swap may
  // quiesce the runtime before it closes a library.
  host_.runtime().waitParked([&] { done.wait(); });
  return done.get();
}

std::uint64_t KernelAdmin::servingGeneration(const std::string& plugin) const {
  for (const auto& s : host_.status())
    if (s.name == plugin) return s.generation;
  return 0;
}

Result<std::uint64_t> KernelAdmin::startReload(const std::string& name) {
  if (!accepting_) return unavailable("the kernel is not accepting reloads now (starting or stopping)");
  auto status = host_.status();
  if (std::none_of(status.begin(), status.end(), [&](const PluginStatus& s) { return s.name == name; }))
    return notFound("no plugin named '" + name + "'");
  std::lock_guard lock(recordsMutex_);
  if (stopping_) return unavailable("the kernel is stopping");
  if (queuedReloads_ >= kMaxQueuedReloads)
    return resourceExhausted(std::to_string(queuedReloads_) + " reloads are queued already; ask again later");
  admin::ReloadRecord record;
  record.id = nextId_++;
  record.plugin = name;
  record.generationBefore = servingGeneration(name);
  records_.push_back(std::move(record));
  // Forget the oldest finished records; queued and running ones stay.
  for (auto it = records_.begin(); records_.size() > kKeptRecords && it != records_.end();) {
    bool done =
        it->state == admin::ReloadRecord::State::kSwapped || it->state == admin::ReloadRecord::State::kFailed;
    it = done ? records_.erase(it) : std::next(it);
  }
  const std::uint64_t id = records_.back().id;
  jobs_.push_back([this, id](bool run) {
    if (run) runRecorded(id);
  });
  ++queuedReloads_;
  queued_.notify_one();
  return id;
}

Result<admin::ReloadRecord> KernelAdmin::reloadRecord(std::uint64_t id) const {
  std::lock_guard lock(recordsMutex_);
  for (const auto& r : records_)
    if (r.id == id) return r;
  return notFound("no reload " + std::to_string(id) + " (unknown, or one of the oldest, forgotten)");
}

admin::ReloadRecord* KernelAdmin::record(std::uint64_t id) {
  for (auto& r : records_)
    if (r.id == id) return &r;
  return nullptr;
}

void KernelAdmin::runJobs() {
  std::unique_lock lock(recordsMutex_);
  for (;;) {
    queued_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    if (stopping_) break;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job(true);
    lock.lock();
  }
  std::deque<Job> dropped;
  dropped.swap(jobs_);
  lock.unlock();
  for (auto& job : dropped) job(false);
}

void KernelAdmin::runRecorded(std::uint64_t id) {
  std::string plugin;
  {
    std::lock_guard lock(recordsMutex_);
    --queuedReloads_;
    if (admin::ReloadRecord* r = record(id)) {
      r->state = admin::ReloadRecord::State::kRunning;
      plugin = r->plugin;
    }
  }
  Status swapped = swapNow(plugin);
  std::uint64_t generation = servingGeneration(plugin);
  std::lock_guard lock(recordsMutex_);
  if (admin::ReloadRecord* r = record(id)) {
    r->state = swapped.ok() ? admin::ReloadRecord::State::kSwapped : admin::ReloadRecord::State::kFailed;
    r->generationAfter = generation;
    r->error = swapped.ok() ? "" : swapped.message();
  }
}

}  // namespace hive::host
