#include "host/service_registry.hpp"

#include <algorithm>
#include <condition_variable>
#include <thread>

namespace hive::host {
namespace {

// Members are destroyed in reverse order: the service (and its plugin-side
// deleter) goes first, the library pin after it.
struct PinnedService {
  std::shared_ptr<const void> pin;
  std::shared_ptr<Service> service;
};

ServiceKey keyOf(const ServiceId& id) { return {id.name, id.major}; }

}  // namespace

struct ServiceDirectory::Slot final : ServiceSlot {
  ServiceKey id;
  std::string provider;
  std::size_t order = 0;

  mutable std::mutex mutex;
  mutable std::condition_variable ungated;
  bool gated = false;
  // The thread running the swap passes the gate (and sees the old generation),
  // so a new generation that looks itself up while starting cannot deadlock.
  std::thread::id gatedBy;
  std::shared_ptr<Service> current;  // pinned; empty once withdrawn
  std::uint64_t generation = 0;

  // hive::ServiceSlot
  ServiceLease acquire() const override {
    std::unique_lock lock(mutex);
    if (std::this_thread::get_id() != gatedBy) ungated.wait(lock, [&] { return !gated; });
    if (!current) return {};
    return {current, provider, generation};
  }

  // Leases out now: every copy of `current` but the slot's own.
  std::size_t leases() const {
    std::lock_guard lock(mutex);
    return current ? static_cast<std::size_t>(current.use_count() - 1) : 0;
  }
  void setGate(bool closed) {
    {
      std::lock_guard lock(mutex);
      gated = closed;
      gatedBy = closed ? std::this_thread::get_id() : std::thread::id();
    }
    if (!closed) ungated.notify_all();
  }
};

// A watch's callback runs under its own recursive mutex, so cancelling waits
// for a running callback, and a callback may cancel its own watch.
template <typename Event>
struct ServiceDirectory::BasicWatch {
  std::recursive_mutex mutex;
  std::string owner;
  ServiceKey id;
  std::function<void(const Event&)> callback;
  bool active = true;
  bool running = false;

  void cancel() {
    std::lock_guard lock(mutex);
    active = false;
    if (!running) callback = nullptr;  // a running callback is released by its caller
  }
  void deliver(const Event& event) {
    std::lock_guard lock(mutex);
    if (!active || !callback) return;
    running = true;
    callback(event);
    running = false;
    if (!active) callback = nullptr;
  }
};

namespace {
class WatchSubscription final : public Subscription {
 public:
  explicit WatchSubscription(std::function<void()> cancel) : cancel_(std::move(cancel)) {}
  ~WatchSubscription() override { cancel_(); }

 private:
  std::function<void()> cancel_;
};
}  // namespace

std::shared_ptr<Service> ServiceDirectory::pinned(std::shared_ptr<Service> service,
                                                  std::shared_ptr<const void> pin) {
  auto holder = std::make_shared<PinnedService>(PinnedService{std::move(pin), std::move(service)});
  return std::shared_ptr<Service>(holder, holder->service.get());
}

std::shared_ptr<ServiceDirectory::Slot> ServiceDirectory::slotFor(const std::string& provider,
                                                                  std::size_t order, const ServiceKey& id) {
  // A consumer may still hold the slot of a provider that went (disabled,
  // unloaded): it comes back to life, so that the consumer's handle follows.
  std::erase_if(dormant_, [](const auto& weak) { return weak.expired(); });
  for (auto it = dormant_.begin(); it != dormant_.end(); ++it) {
    auto slot = it->lock();
    if (slot && slot->provider == provider && slot->id == id) {
      dormant_.erase(it);
      slot->order = order;
      return slot;
    }
  }
  auto slot = std::make_shared<Slot>();
  slot->id = id;
  slot->provider = provider;
  slot->order = order;
  return slot;
}

void ServiceDirectory::retireSlot(const std::shared_ptr<Slot>& slot) { dormant_.push_back(slot); }

Status ServiceDirectory::provide(const std::string& provider, std::size_t providerOrder, const ServiceKey& id,
                                 std::shared_ptr<Service> service, std::shared_ptr<const void> pin) {
  if (!service) return invalidArgument("provide " + id.toString() + ": null service");
  {
    std::lock_guard lock(mutex_);
    for (const auto& s : slots_)
      if (s->provider == provider && s->id == id)
        return alreadyExists("plugin '" + provider + "' already provides " + id.toString());
    auto slot = slotFor(provider, providerOrder, id);
    {
      std::lock_guard slotLock(slot->mutex);
      slot->current = pinned(std::move(service), std::move(pin));
      ++slot->generation;
    }
    slots_.push_back(std::move(slot));
    std::stable_sort(slots_.begin(), slots_.end(),
                     [](const auto& a, const auto& b) { return a->order < b->order; });
  }
  notify(id, provider, ServiceChange::kAdded);
  return okStatus();
}

Status ServiceDirectory::withdraw(const std::string& provider, const ServiceKey& id) {
  std::shared_ptr<Slot> slot;
  {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(slots_.begin(), slots_.end(),
                           [&](const auto& s) { return s->provider == provider && s->id == id; });
    if (it == slots_.end()) return notFound("plugin '" + provider + "' does not provide " + id.toString());
    slot = *it;
    slots_.erase(it);
    retireSlot(slot);
  }
  std::shared_ptr<Service> released;  // dropped outside every lock
  {
    std::lock_guard lock(slot->mutex);
    released = std::move(slot->current);
  }
  slot->setGate(false);
  released.reset();
  notify(id, provider, ServiceChange::kRemoved);
  return okStatus();
}

void ServiceDirectory::withdrawAll(const std::string& provider) {
  std::vector<ServiceKey> ids;
  {
    std::lock_guard lock(mutex_);
    for (const auto& s : slots_)
      if (s->provider == provider) ids.push_back(s->id);
  }
  for (const auto& id : ids) (void)withdraw(provider, id);
}

std::vector<ServiceLease> ServiceDirectory::lookup(const ServiceKey& id) const {
  std::vector<std::shared_ptr<Slot>> matching;
  {
    std::lock_guard lock(mutex_);
    for (const auto& s : slots_)
      if (s->id == id) matching.push_back(s);
  }
  std::vector<ServiceLease> out;
  for (const auto& s : matching)
    if (auto lease = s->acquire(); lease.service) out.push_back(std::move(lease));
  return out;
}

Result<std::shared_ptr<ServiceSlot>> ServiceDirectory::slot(const ServiceKey& id,
                                                            const std::string& provider) const {
  std::lock_guard lock(mutex_);
  for (const auto& s : slots_)
    if (s->id == id && (provider.empty() || s->provider == provider)) return std::shared_ptr<ServiceSlot>(s);
  return notFound("no provider " + (provider.empty() ? std::string() : "'" + provider + "' ") +
                  "of service " + id.toString());
}

template <typename Event>
std::unique_ptr<Subscription> ServiceDirectory::addWatch(
    std::vector<std::shared_ptr<BasicWatch<Event>>>& list, const std::string& owner, const ServiceKey& id,
    std::function<void(const Event&)> callback) {
  auto watch = std::make_shared<BasicWatch<Event>>();
  watch->owner = owner;
  watch->id = id;
  watch->callback = std::move(callback);
  {
    std::lock_guard lock(mutex_);
    list.push_back(watch);
  }
  std::weak_ptr<BasicWatch<Event>> weak = watch;
  return std::make_unique<WatchSubscription>([this, &list, weak] {
    auto w = weak.lock();
    if (!w) return;
    w->cancel();
    std::lock_guard lock(mutex_);
    std::erase(list, w);
  });
}

std::unique_ptr<Subscription> ServiceDirectory::watch(const std::string& owner, const ServiceKey& id,
                                                      std::function<void(const ServiceEvent&)> callback) {
  return addWatch(watches_, owner, id, std::move(callback));
}

std::unique_ptr<Subscription> ServiceDirectory::watchSwaps(const std::string& owner,
                                                           std::function<void(const SwapNotice&)> callback) {
  return addWatch(swapWatches_, owner, ServiceKey{}, std::move(callback));
}

void ServiceDirectory::cancelWatches(const std::string& owner) {
  auto takeOwned = [&](auto& list) {
    std::remove_reference_t<decltype(list)> ended;
    for (auto it = list.begin(); it != list.end();) {
      if ((*it)->owner == owner) {
        ended.push_back(*it);
        it = list.erase(it);
      } else {
        ++it;
      }
    }
    return ended;
  };
  std::vector<std::shared_ptr<Watch>> ended;
  std::vector<std::shared_ptr<SwapWatch>> endedSwaps;
  {
    std::lock_guard lock(mutex_);
    ended = takeOwned(watches_);
    endedSwaps = takeOwned(swapWatches_);
  }
  for (auto& w : ended) w->cancel();
  for (auto& w : endedSwaps) w->cancel();
}

void ServiceDirectory::noticeSwap(const SwapNotice& notice) {
  std::vector<std::shared_ptr<SwapWatch>> targets;
  {
    std::lock_guard lock(mutex_);
    targets = swapWatches_;
  }
  for (auto& w : targets) w->deliver(notice);
}

void ServiceDirectory::gate(const std::string& provider) {
  std::lock_guard lock(mutex_);
  for (const auto& s : slots_)
    if (s->provider == provider) s->setGate(true);
}

std::size_t ServiceDirectory::waitForLeases(const std::string& provider,
                                            std::chrono::steady_clock::time_point deadline) const {
  // Leases are released on their holders' threads without telling anyone, and
  // calls are short: poll, backing off from 20 microseconds to 1 millisecond.
  auto pause = std::chrono::microseconds(20);
  for (;;) {
    std::size_t held = leasesInFlight(provider);
    if (held == 0 || std::chrono::steady_clock::now() >= deadline) return held;
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(1));
  }
}

void ServiceDirectory::ungate(const std::string& provider) {
  std::lock_guard lock(mutex_);
  for (const auto& s : slots_)
    if (s->provider == provider) s->setGate(false);
}

void ServiceDirectory::replace(const std::string& provider, std::size_t providerOrder,
                               std::vector<std::pair<ServiceKey, std::shared_ptr<Service>>> services) {
  std::vector<std::shared_ptr<Service>> released;  // old generations, dropped outside every lock
  std::vector<std::pair<ServiceKey, ServiceChange>> changes;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, service] : services) {
      auto it = std::find_if(slots_.begin(), slots_.end(),
                             [&](const auto& s) { return s->provider == provider && s->id == id; });
      if (it == slots_.end()) {
        auto slot = slotFor(provider, providerOrder, id);
        {
          std::lock_guard slotLock(slot->mutex);
          slot->current = std::move(service);
          ++slot->generation;
        }
        slots_.push_back(std::move(slot));
        changes.emplace_back(id, ServiceChange::kAdded);
        continue;
      }
      Slot& slot = **it;
      {
        std::lock_guard slotLock(slot.mutex);
        released.push_back(std::exchange(slot.current, std::move(service)));
        ++slot.generation;
      }
      changes.emplace_back(id, ServiceChange::kReplaced);
    }
    for (auto it = slots_.begin(); it != slots_.end();) {
      Slot& slot = **it;
      bool kept =
          slot.provider != provider || std::any_of(services.begin(), services.end(),
                                                   [&](const auto& entry) { return entry.first == slot.id; });
      if (kept) {
        ++it;
        continue;
      }
      {
        std::lock_guard slotLock(slot.mutex);
        released.push_back(std::move(slot.current));
      }
      slot.setGate(false);
      changes.emplace_back(slot.id, ServiceChange::kRemoved);
      retireSlot(*it);
      it = slots_.erase(it);
    }
    for (const auto& s : slots_)
      if (s->provider == provider) s->setGate(false);
    std::stable_sort(slots_.begin(), slots_.end(),
                     [](const auto& a, const auto& b) { return a->order < b->order; });
  }
  released.clear();
  for (const auto& [id, change] : changes) notify(id, provider, change);
}

std::size_t ServiceDirectory::leasesInFlight(const std::string& provider) const {
  std::vector<std::shared_ptr<Slot>> matching;
  {
    std::lock_guard lock(mutex_);
    for (const auto& s : slots_)
      if (s->provider == provider) matching.push_back(s);
  }
  std::size_t held = 0;
  for (const auto& s : matching) held += s->leases();
  return held;
}

std::size_t ServiceDirectory::providerCount() const {
  std::lock_guard lock(mutex_);
  return slots_.size();
}

void ServiceDirectory::notify(const ServiceKey& id, const std::string& provider, ServiceChange change) {
  std::vector<std::shared_ptr<Watch>> targets;
  {
    std::lock_guard lock(mutex_);
    for (const auto& w : watches_)
      if (w->id == id) targets.push_back(w);
  }
  // The event's id points at the watch's own key text, which outlives the call.
  for (auto& w : targets)
    w->deliver(ServiceEvent{ServiceId{w->id.name.c_str(), w->id.major}, provider, change});
}

void* ServiceDirectory::share(const std::string& plugin, std::string_view name, std::string_view type,
                              void* candidate) {
  std::lock_guard lock(mutex_);
  auto [it, added] = shared_.try_emplace({plugin, std::string(name)});
  Shared& entry = it->second;
  if (added) {
    entry = Shared{std::string(type), candidate, 0};
  } else if (entry.type != type) {
    // A new version shares another type under the name: it starts afresh and
    // the generations before it keep theirs.
    return nullptr;
  }
  ++entry.holders;
  return entry.object;
}

bool ServiceDirectory::unshare(const std::string& plugin, std::string_view name, void* object) {
  std::lock_guard lock(mutex_);
  auto it = shared_.find({plugin, std::string(name)});
  if (it == shared_.end() || it->second.object != object) return false;
  if (--it->second.holders > 0) return false;
  shared_.erase(it);
  return true;
}

std::size_t ServiceDirectory::sharedCount(const std::string& plugin) const {
  std::lock_guard lock(mutex_);
  std::size_t count = 0;
  for (const auto& [key, entry] : shared_)
    if (key.first == plugin) ++count;
  return count;
}

// hive.generation/1 for one generation: its library pin and the plugin's
// shared objects. Kernel code that refers to no view: a provider's objects (and
// so this service) may outlive the generation's context.
class PluginServiceView::GenerationService final : public Generation {
 public:
  GenerationService(ServiceDirectory& directory, std::string plugin, std::shared_ptr<const void> pin)
      : directory_(directory), plugin_(std::move(plugin)), pin_(std::move(pin)) {}

  // hive::Generation
  std::shared_ptr<const void> pin() override {
    std::lock_guard lock(mutex_);
    return pin_;
  }
  void* share(std::string_view name, std::string_view type, void* candidate) override {
    return directory_.share(plugin_, name, type, candidate);
  }
  bool unshare(std::string_view name, void* object) override {
    return directory_.unshare(plugin_, name, object);
  }

  void releasePin() {
    std::lock_guard lock(mutex_);
    pin_.reset();
  }

 private:
  ServiceDirectory& directory_;
  const std::string plugin_;
  std::mutex mutex_;
  std::shared_ptr<const void> pin_;
};

// hive.swaps/1 for one generation: its watches are that generation's, ended
// when it stops (cancelWatches of its owner).
class PluginServiceView::SwapNoticesService final : public SwapNotices {
 public:
  SwapNoticesService(ServiceDirectory& directory, std::string owner)
      : directory_(directory), owner_(std::move(owner)) {}

  std::unique_ptr<Subscription> watch(std::function<void(const SwapNotice&)> callback) override {
    return directory_.watchSwaps(owner_, std::move(callback));
  }

 private:
  ServiceDirectory& directory_;
  const std::string owner_;
};

PluginServiceView::PluginServiceView(ServiceDirectory& directory, const PluginManifest& manifest,
                                     std::size_t order, std::shared_ptr<const void> pin, std::string owner,
                                     Mode mode)
    : directory_(directory),
      manifest_(manifest),
      order_(order),
      owner_(std::move(owner)),
      pin_(std::move(pin)),
      mode_(mode),
      generation_(std::make_shared<GenerationService>(directory, manifest.name, pin_)),
      swapNotices_(std::make_shared<SwapNoticesService>(directory, owner_)) {}

Status PluginServiceView::provide(ServiceId id, std::shared_ptr<Service> service) {
  ServiceKey key = keyOf(id);
  if (std::find(manifest_.provides.begin(), manifest_.provides.end(), key) == manifest_.provides.end())
    return failedPrecondition(manifest_.label() + ": provides " + key.toString() +
                              ", which its manifest does not declare (add it to .provides)");
  if (!service) return invalidArgument("provide " + key.toString() + ": null service");
  std::lock_guard lock(mutex_);
  if (!pin_) return failedPrecondition(manifest_.label() + ": cannot provide services after stopping");
  if (mode_ == Mode::kRetired)
    return failedPrecondition(manifest_.label() + ": a replaced generation cannot provide");
  if (mode_ == Mode::kStaging) {
    for (const auto& [staged, _] : staged_)
      if (staged == key)
        return alreadyExists("plugin '" + manifest_.name + "' already provides " + key.toString());
    staged_.emplace_back(key, ServiceDirectory::pinned(std::move(service), pin_));
    return okStatus();
  }
  return directory_.provide(manifest_.name, order_, key, std::move(service), pin_);
}

Status PluginServiceView::withdraw(ServiceId id) {
  ServiceKey key = keyOf(id);
  {
    std::lock_guard lock(mutex_);
    if (mode_ == Mode::kRetired) return okStatus();  // its successor owns the slots now
    if (mode_ == Mode::kStaging) {
      auto before = staged_.size();
      std::erase_if(staged_, [&](const auto& entry) { return entry.first == key; });
      if (staged_.size() == before)
        return notFound("plugin '" + manifest_.name + "' does not provide " + key.toString());
      return okStatus();
    }
  }
  return directory_.withdraw(manifest_.name, key);
}

std::vector<ServiceLease> PluginServiceView::lookup(ServiceId id) const {
  // Per generation, so not in the directory; the lease pins no library.
  if (id == Generation::kServiceId) return {ServiceLease{generation_, "kernel", 1}};
  if (id == SwapNotices::kServiceId) return {ServiceLease{swapNotices_, "kernel", 1}};
  return directory_.lookup(keyOf(id));
}

std::unique_ptr<Subscription> PluginServiceView::watch(ServiceId id,
                                                       std::function<void(const ServiceEvent&)> callback) {
  return directory_.watch(owner_, keyOf(id), std::move(callback));
}

Result<std::shared_ptr<ServiceSlot>> PluginServiceView::slot(ServiceId id, const std::string& provider) {
  return directory_.slot(keyOf(id), provider);
}

std::vector<std::pair<ServiceKey, std::shared_ptr<Service>>> PluginServiceView::takeStaged() {
  std::lock_guard lock(mutex_);
  mode_ = Mode::kLive;
  return std::exchange(staged_, {});
}

void PluginServiceView::retire() {
  std::lock_guard lock(mutex_);
  mode_ = Mode::kRetired;
}

void PluginServiceView::releasePin() {
  generation_->releasePin();
  std::lock_guard lock(mutex_);
  pin_.reset();
  staged_.clear();
}

}  // namespace hive::host
