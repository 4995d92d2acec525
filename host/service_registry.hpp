// The kernel's service registry.
//
// Each (provider, service id) pair is a slot that holds the provider's current
// generation. Consumers reach a provider through a slot (ServiceHandle) or a
// lookup; either way they get a lease that pins the providing plugin's library:
// it is not closed while any lease lives. A hot swap replaces what a slot holds
// in one step, after gating the slot and waiting for its in-flight leases, so a
// lease never sees a half-swapped provider.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hive/callbacks.hpp"
#include "hive/services.hpp"
#include "hive/services/swaps.hpp"
#include "host/manifest.hpp"

namespace hive::host {

class ServiceDirectory {
 public:
  struct Slot;

  // `pin` is released after the last lease of `service`, and after `service`
  // itself (whose deleter may live in the pinned library) is released.
  Status provide(const std::string& provider, std::size_t providerOrder, const ServiceKey& id,
                 std::shared_ptr<Service> service, std::shared_ptr<const void> pin);
  Status withdraw(const std::string& provider, const ServiceKey& id);
  void withdrawAll(const std::string& provider);
  std::vector<ServiceLease> lookup(const ServiceKey& id) const;
  Result<std::shared_ptr<ServiceSlot>> slot(const ServiceKey& id, const std::string& provider) const;

  // `owner` names one generation of one plugin ("alpha#3"), so that a new
  // generation's watches survive the old one's cancellation.
  std::unique_ptr<Subscription> watch(const std::string& owner, const ServiceKey& id,
                                      std::function<void(const ServiceEvent&)> callback);
  void cancelWatches(const std::string& owner);
  // hive.swaps/1: watches of swap notices, and a notice to each of them (on
  // the calling thread, in the order the watches were made).
  std::unique_ptr<Subscription> watchSwaps(const std::string& owner,
                                           std::function<void(const SwapNotice&)> callback);
  void noticeSwap(const SwapNotice& notice);

  // Hot swap, in three steps. gate() makes every slot of `provider` hold new
  // acquires back; waitForLeases() waits until no lease of them is in flight;
  // then either replace() (new generation) or ungate() (rollback).
  void gate(const std::string& provider);
  // Leases still held when the deadline passed (0 = all returned).
  std::size_t waitForLeases(const std::string& provider,
                            std::chrono::steady_clock::time_point deadline) const;
  void ungate(const std::string& provider);
  // Puts `services` (id -> pinned service of the new generation) into the
  // provider's slots, adds slots for new ids, removes slots the new generation
  // no longer provides, ungates, and notifies watchers.
  void replace(const std::string& provider, std::size_t providerOrder,
               std::vector<std::pair<ServiceKey, std::shared_ptr<Service>>> services);

  // hive.generation/1's shared objects of plugin `plugin`: what one generation
  // shares under a name the next finds (see hive/callbacks.hpp). Counted per
  // share() so that the entry lives while any generation holds it; the entry
  // owns one reference of the object (its first sharer's), so a holder that just
  // got it from share() can rely on it being alive. nullptr: `name` is shared
  // with another type.
  void* share(const std::string& plugin, std::string_view name, std::string_view type, void* candidate);
  // True when that was the last holder: the caller releases the entry's reference.
  bool unshare(const std::string& plugin, std::string_view name, void* object);
  std::size_t sharedCount(const std::string& plugin) const;

  // Leases of `provider`'s services held right now (for status output).
  std::size_t leasesInFlight(const std::string& provider) const;
  std::size_t providerCount() const;

  // Wraps `service` so that holding it pins `pin`.
  static std::shared_ptr<Service> pinned(std::shared_ptr<Service> service, std::shared_ptr<const void> pin);

 private:
  template <typename Event>
  struct BasicWatch;
  using Watch = BasicWatch<ServiceEvent>;
  using SwapWatch = BasicWatch<SwapNotice>;
  template <typename Event>
  std::unique_ptr<Subscription> addWatch(std::vector<std::shared_ptr<BasicWatch<Event>>>& list,
                                         const std::string& owner, const ServiceKey& id,
                                         std::function<void(const Event&)> callback);
  // Under mutex_: the dormant slot of (provider, id) if a consumer still holds
  // one, else a new slot.
  std::shared_ptr<Slot> slotFor(const std::string& provider, std::size_t order, const ServiceKey& id);
  void retireSlot(const std::shared_ptr<Slot>& slot);
  void notify(const ServiceKey& id, const std::string& provider, ServiceChange change);

  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<Slot>> slots_;  // in provider order
  // Slots of withdrawn services that consumers still hold; revived by provide().
  std::vector<std::weak_ptr<Slot>> dormant_;
  std::vector<std::shared_ptr<Watch>> watches_;
  std::vector<std::shared_ptr<SwapWatch>> swapWatches_;
  struct Shared {
    std::string type;
    void* object = nullptr;
    std::size_t holders = 0;
  };
  std::map<std::pair<std::string, std::string>, Shared> shared_;  // (plugin, name)
};

// The registry as one generation of one plugin sees it: it may provide only
// what its manifest declares, under its own name. A staging view (the new
// generation during a swap) collects what the plugin provides instead of
// publishing it; the kernel publishes it with ServiceDirectory::replace.
class PluginServiceView final : public ServiceRegistry {
 public:
  // kRetired: a replaced generation; provide() and withdraw() no longer touch
  // the slots, which belong to its successor now.
  enum class Mode { kLive, kStaging, kRetired };

  PluginServiceView(ServiceDirectory& directory, const PluginManifest& manifest, std::size_t order,
                    std::shared_ptr<const void> pin, std::string owner, Mode mode = Mode::kLive);

  // hive::ServiceRegistry
  Status provide(ServiceId id, std::shared_ptr<Service> service) override;
  Status withdraw(ServiceId id) override;
  std::vector<ServiceLease> lookup(ServiceId id) const override;
  std::unique_ptr<Subscription> watch(ServiceId id,
                                      std::function<void(const ServiceEvent&)> callback) override;
  Result<std::shared_ptr<ServiceSlot>> slot(ServiceId id, const std::string& provider = {}) override;

  const std::string& owner() const { return owner_; }
  // Hands over what a staging view collected and switches it to live mode.
  std::vector<std::pair<ServiceKey, std::shared_ptr<Service>>> takeStaged();
  // Drops the library pin (after the plugin is stopped, its services withdrawn).
  void releasePin();
  // The generation was replaced: from now on it cannot change the registry.
  void retire();

 private:
  class GenerationService;
  class SwapNoticesService;

  ServiceDirectory& directory_;
  const PluginManifest& manifest_;
  std::size_t order_;
  std::string owner_;
  mutable std::mutex mutex_;
  std::shared_ptr<const void> pin_;
  Mode mode_;
  std::vector<std::pair<ServiceKey, std::shared_ptr<Service>>> staged_;
  // hive.generation/1 as this generation sees it.
  std::shared_ptr<GenerationService> generation_;
  // hive.swaps/1 as this generation sees it.
  std::shared_ptr<SwapNoticesService> swapNotices_;
};

}  // namespace hive::host
