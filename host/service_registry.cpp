#include "host/service_registry.hpp"

#include <algorithm>
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

// A watch's callback runs under its own recursive mutex, so cancelling waits
// for a running callback, and a callback may cancel its own watch.
struct ServiceDirectory::Watch {
  std::recursive_mutex mutex;
  std::string owner;
  ServiceKey id;
  std::function<void(const ServiceEvent&)> callback;
  bool active = true;
  bool running = false;

  void cancel() {
    std::lock_guard lock(mutex);
    active = false;
    if (!running) callback = nullptr;  // a running callback is released by its caller
  }
  void deliver(const ServiceEvent& event) {
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
  explicit WatchSubscription(std::weak_ptr<void> watch, std::function<void()> cancel)
      : watch_(std::move(watch)), cancel_(std::move(cancel)) {}
  ~WatchSubscription() override {
    if (!watch_.expired()) cancel_();
  }

 private:
  std::weak_ptr<void> watch_;
  std::function<void()> cancel_;
};
}  // namespace

Status ServiceDirectory::provide(const std::string& provider, std::size_t providerOrder, const ServiceKey& id,
                                 std::shared_ptr<Service> service, std::shared_ptr<const void> pin) {
  if (!service) return invalidArgument("provide " + id.toString() + ": null service");
  {
    std::lock_guard lock(mutex_);
    for (const auto& e : entries_)
      if (e.provider == provider && e.id == id)
        return alreadyExists("plugin '" + provider + "' already provides " + id.toString());
    auto holder = std::make_shared<PinnedService>(PinnedService{std::move(pin), std::move(service)});
    std::shared_ptr<Service> pinned(holder, holder->service.get());
    entries_.push_back({id, provider, providerOrder, nextGeneration_++, std::move(pinned)});
    std::stable_sort(entries_.begin(), entries_.end(),
                     [](const Entry& a, const Entry& b) { return a.order < b.order; });
  }
  notify(id, provider, ServiceChange::kAdded);
  return okStatus();
}

Status ServiceDirectory::withdraw(const std::string& provider, const ServiceKey& id) {
  std::shared_ptr<Service> released;  // dropped outside the lock
  {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const Entry& e) { return e.provider == provider && e.id == id; });
    if (it == entries_.end()) return notFound("plugin '" + provider + "' does not provide " + id.toString());
    released = std::move(it->pinned);
    entries_.erase(it);
  }
  released.reset();
  notify(id, provider, ServiceChange::kRemoved);
  return okStatus();
}

void ServiceDirectory::withdrawAll(const std::string& provider) {
  std::vector<ServiceKey> ids;
  {
    std::lock_guard lock(mutex_);
    for (const auto& e : entries_)
      if (e.provider == provider) ids.push_back(e.id);
  }
  for (const auto& id : ids) (void)withdraw(provider, id);
}

std::vector<ServiceLease> ServiceDirectory::lookup(const ServiceKey& id) const {
  std::lock_guard lock(mutex_);
  std::vector<ServiceLease> out;
  for (const auto& e : entries_)
    if (e.id == id) out.push_back({e.pinned, e.provider, e.generation});
  return out;
}

std::unique_ptr<Subscription> ServiceDirectory::watch(const std::string& owner, const ServiceKey& id,
                                                      std::function<void(const ServiceEvent&)> callback) {
  auto watch = std::make_shared<Watch>();
  watch->owner = owner;
  watch->id = id;
  watch->callback = std::move(callback);
  {
    std::lock_guard lock(mutex_);
    watches_.push_back(watch);
  }
  std::weak_ptr<Watch> weak = watch;
  return std::make_unique<WatchSubscription>(weak, [this, weak] {
    auto w = weak.lock();
    if (!w) return;
    w->cancel();
    std::lock_guard lock(mutex_);
    std::erase(watches_, w);
  });
}

void ServiceDirectory::cancelWatches(const std::string& owner) {
  std::vector<std::shared_ptr<Watch>> ended;
  {
    std::lock_guard lock(mutex_);
    for (auto it = watches_.begin(); it != watches_.end();) {
      if ((*it)->owner == owner) {
        ended.push_back(*it);
        it = watches_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& w : ended) w->cancel();
}

std::size_t ServiceDirectory::providerCount() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void ServiceDirectory::notify(const ServiceKey& id, const std::string& provider, ServiceChange change) {
  std::vector<std::shared_ptr<Watch>> targets;
  {
    std::lock_guard lock(mutex_);
    for (const auto& w : watches_)
      if (w->id == id) targets.push_back(w);
  }
  // The event's id points at the watch's own key text, which outlives the call.
  for (auto& w : targets) w->deliver(ServiceEvent{ServiceId{w->id.name.c_str(), w->id.major}, provider, change});
}

PluginServiceView::PluginServiceView(ServiceDirectory& directory, const PluginManifest& manifest, std::size_t order,
                                     std::shared_ptr<const void> pin)
    : directory_(directory), manifest_(manifest), order_(order), pin_(std::move(pin)) {}

Status PluginServiceView::provide(ServiceId id, std::shared_ptr<Service> service) {
  ServiceKey key = keyOf(id);
  if (std::find(manifest_.provides.begin(), manifest_.provides.end(), key) == manifest_.provides.end())
    return failedPrecondition(manifest_.label() + ": provides " + key.toString() +
                              ", which its manifest does not declare (add it to .provides)");
  if (!pin_) return failedPrecondition(manifest_.label() + ": cannot provide services after stopping");
  return directory_.provide(manifest_.name, order_, key, std::move(service), pin_);
}

Status PluginServiceView::withdraw(ServiceId id) { return directory_.withdraw(manifest_.name, keyOf(id)); }

std::vector<ServiceLease> PluginServiceView::lookup(ServiceId id) const { return directory_.lookup(keyOf(id)); }

std::unique_ptr<Subscription> PluginServiceView::watch(ServiceId id,
                                                       std::function<void(const ServiceEvent&)> callback) {
  return directory_.watch(manifest_.name, keyOf(id), std::move(callback));
}

}  // namespace hive::host
