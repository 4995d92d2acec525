#include "host/kernel_admin.hpp"

#include <algorithm>

#include "host/plugin_host.hpp"
#include "host/reload_controller.hpp"
#include "host/service_registry.hpp"

namespace hive::host {

KernelAdmin::KernelAdmin(PluginHost& host) : host_(host), worker_([this] { runReloads(); }) {}

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

Status KernelAdmin::reloadPlugin(const std::string& name) {
  std::lock_guard lock(mutex_);
  if (reloads_ == nullptr)
    return unavailable("the kernel is not accepting reloads now (starting or stopping)");
  return reloads_->reloadPlugin(name);
}

Status KernelAdmin::reloadConfig() {
  std::lock_guard lock(mutex_);
  if (reloads_ == nullptr)
    return unavailable("the kernel is not accepting reloads now (starting or stopping)");
  return reloads_->reloadConfig();
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
  if (queue_.size() >= kMaxQueuedReloads)
    return resourceExhausted(std::to_string(queue_.size()) + " reloads are queued already; ask again later");
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
  queue_.push_back(records_.back().id);
  queued_.notify_one();
  return records_.back().id;
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

void KernelAdmin::runReloads() {
  std::unique_lock lock(recordsMutex_);
  for (;;) {
    queued_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::uint64_t id = queue_.front();
    queue_.pop_front();
    std::string plugin;
    if (admin::ReloadRecord* r = record(id)) {
      r->state = admin::ReloadRecord::State::kRunning;
      plugin = r->plugin;
    }
    lock.unlock();
    Status swapped = reloadPlugin(plugin);
    std::uint64_t generation = servingGeneration(plugin);
    lock.lock();
    if (admin::ReloadRecord* r = record(id)) {
      r->state = swapped.ok() ? admin::ReloadRecord::State::kSwapped : admin::ReloadRecord::State::kFailed;
      r->generationAfter = generation;
      r->error = swapped.ok() ? "" : swapped.message();
    }
  }
}

}  // namespace hive::host
