#include "memory_registry.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <utility>

namespace hive::testing::detail {
namespace {

bool sameId(const std::string& name, std::uint32_t major, ServiceId id) {
  return major == id.major && name == std::string_view(id.name);
}

bool listedIn(const HiveManifestService (&services)[HIVE_MAX_SERVICES], ServiceId id) {
  for (const auto& s : services)
    if (s.major == id.major &&
        std::string_view(s.id, strnlen(s.id, sizeof s.id)) == std::string_view(id.name))
      return true;
  return false;
}

// Keeps the providing library mapped for as long as the service lives. Members are
// destroyed in reverse order: the service (whose code is in the library) goes first.
struct PinnedService {
  std::shared_ptr<void> pin;
  std::shared_ptr<Service> service;
};

}  // namespace

void ServiceStore::pinServicesOf(const std::string& provider, std::shared_ptr<void> pin) {
  std::lock_guard lock(mutex_);
  pins_[provider] = std::move(pin);
}

ServiceId ServiceStore::intern(ServiceId id) {
  return ServiceId{names_.insert(std::string(id.name)).first->c_str(), id.major};
}

Status ServiceStore::provide(const std::string& provider, ServiceId id, std::shared_ptr<Service> service,
                             Replace replace) {
  if (id.name == nullptr || *id.name == '\0' || id.major == 0)
    return invalidArgument("service id '" + (id.name ? id.toString() : std::string("/0")) + "' is not valid");
  if (!service) return invalidArgument("provide " + id.toString() + ": null service");
  ServiceChange change = ServiceChange::kAdded;
  ServiceId stable;
  std::shared_ptr<Service> replaced;  // released outside the lock
  {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) {
      return e.provider == provider && sameId(e.name, e.major, id);
    });
    if (it != entries_.end() && replace == Replace::kRefuse)
      return alreadyExists("'" + provider + "' already provides " + id.toString());
    stable = intern(id);
    if (auto pin = pins_.find(provider); pin != pins_.end() && pin->second) {
      auto pinned = std::make_shared<PinnedService>(PinnedService{pin->second, std::move(service)});
      service = std::shared_ptr<Service>(pinned, pinned->service.get());
    }
    if (it != entries_.end()) {
      replaced = std::exchange(it->service, std::move(service));
      ++it->generation;
      change = ServiceChange::kReplaced;
    } else {
      entries_.push_back(Entry{stable.name, id.major, provider, 1, std::move(service)});
    }
  }
  notify(stable, provider, change);
  return okStatus();
}

Status ServiceStore::withdraw(const std::string& provider, ServiceId id) {
  std::shared_ptr<Service> withdrawn;
  ServiceId stable;
  {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) {
      return e.provider == provider && sameId(e.name, e.major, id);
    });
    if (it == entries_.end()) return notFound("'" + provider + "' does not provide " + id.toString());
    stable = intern(id);
    withdrawn = std::move(it->service);
    entries_.erase(it);
  }
  notify(stable, provider, ServiceChange::kRemoved);
  return okStatus();
}

void ServiceStore::withdrawAll(const std::string& provider) {
  std::vector<ServiceId> ids;
  {
    std::lock_guard lock(mutex_);
    for (const auto& e : entries_)
      if (e.provider == provider) ids.push_back(intern(ServiceId{e.name.c_str(), e.major}));
  }
  for (const auto& id : ids) (void)withdraw(provider, id);
}

std::vector<ServiceLease> ServiceStore::lookup(ServiceId id) const {
  std::lock_guard lock(mutex_);
  std::vector<ServiceLease> out;
  for (const auto& e : entries_)
    if (sameId(e.name, e.major, id)) out.push_back(ServiceLease{e.service, e.provider, e.generation});
  return out;
}

std::uint64_t ServiceStore::addWatch(ServiceId id, std::function<void(const ServiceEvent&)> callback) {
  std::lock_guard lock(mutex_);
  std::uint64_t key = nextWatch_++;
  watches_.emplace(key, Watch{std::string(id.name), id.major, std::move(callback)});
  return key;
}

void ServiceStore::removeWatch(std::uint64_t key) {
  Watch removed;  // its callback may hold plugin state: destroyed outside the lock
  std::lock_guard lock(mutex_);
  if (auto it = watches_.find(key); it != watches_.end()) {
    removed = std::move(it->second);
    watches_.erase(it);
  }
}

void ServiceStore::notify(ServiceId id, const std::string& provider, ServiceChange change) {
  // Copies, so that a callback may watch, cancel or provide without deadlocking.
  std::vector<std::pair<std::uint64_t, std::function<void(const ServiceEvent&)>>> callbacks;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, watch] : watches_)
      if (sameId(watch.name, watch.major, id)) callbacks.emplace_back(key, watch.callback);
  }
  ServiceEvent event{id, provider, change};
  for (auto& [key, callback] : callbacks) {
    bool stillWatching = false;
    {
      std::lock_guard lock(mutex_);
      stillWatching = watches_.count(key) != 0;
    }
    // A watch cancelled by an earlier callback of this same change must not run.
    if (stillWatching && callback) callback(event);
  }
}

void ServiceStore::clear() {
  std::vector<Entry> entries;
  std::map<std::uint64_t, Watch> watches;
  std::map<std::string, std::shared_ptr<void>> pins;
  std::lock_guard lock(mutex_);
  entries.swap(entries_);
  watches.swap(watches_);
  pins.swap(pins_);
}

class RegistryView::WatchSubscription final : public Subscription {
 public:
  WatchSubscription(std::weak_ptr<ServiceStore> store, std::weak_ptr<Watches> watches, std::uint64_t key)
      : store_(std::move(store)), watches_(std::move(watches)), key_(key) {}
  ~WatchSubscription() override {
    if (auto watches = watches_.lock()) {
      std::lock_guard lock(watches->mutex);
      watches->keys.erase(key_);
    }
    if (auto store = store_.lock()) store->removeWatch(key_);
  }

 private:
  std::weak_ptr<ServiceStore> store_;
  std::weak_ptr<Watches> watches_;
  std::uint64_t key_;
};

RegistryView::RegistryView(std::shared_ptr<ServiceStore> store, std::string provider,
                           const HiveManifest* manifest)
    : store_(std::move(store)), provider_(std::move(provider)), manifest_(manifest) {}

RegistryView::~RegistryView() = default;

Status RegistryView::provide(ServiceId id, std::shared_ptr<Service> service) {
  if (manifest_ != nullptr && id.name != nullptr && !listedIn(manifest_->provides, id))
    return failedPrecondition("plugin '" + provider_ + "' provides " + id.toString() +
                              ", which its manifest does not list (add it to HIVE_PLUGIN's .provides)");
  return store_->provide(provider_, id, std::move(service), ServiceStore::Replace::kRefuse);
}

Status RegistryView::withdraw(ServiceId id) { return store_->withdraw(provider_, id); }

std::vector<ServiceLease> RegistryView::lookup(ServiceId id) const { return store_->lookup(id); }

std::unique_ptr<Subscription> RegistryView::watch(ServiceId id,
                                                  std::function<void(const ServiceEvent&)> callback) {
  std::uint64_t key = store_->addWatch(id, std::move(callback));
  {
    std::lock_guard lock(watches_->mutex);
    watches_->keys.insert(key);
  }
  return std::make_unique<WatchSubscription>(store_, watches_, key);
}

void RegistryView::withdrawAndCancelAll() {
  store_->withdrawAll(provider_);
  std::set<std::uint64_t> keys;
  {
    std::lock_guard lock(watches_->mutex);
    keys.swap(watches_->keys);
  }
  for (auto key : keys) store_->removeWatch(key);
}

}  // namespace hive::testing::detail
