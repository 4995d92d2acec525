// The kernel's service registry. Every service handed out is wrapped so that it
// pins the providing plugin's library: the library is not closed while any
// lease of any of its services lives.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hive/services.hpp"
#include "host/manifest.hpp"

namespace hive::host {

class ServiceDirectory {
 public:
  // `pin` is released after the last lease of `service`, and after `service`
  // itself (whose deleter may live in the pinned library) is released.
  Status provide(const std::string& provider, std::size_t providerOrder, const ServiceKey& id,
                 std::shared_ptr<Service> service, std::shared_ptr<const void> pin);
  Status withdraw(const std::string& provider, const ServiceKey& id);
  void withdrawAll(const std::string& provider);
  std::vector<ServiceLease> lookup(const ServiceKey& id) const;

  std::unique_ptr<Subscription> watch(const std::string& owner, const ServiceKey& id,
                                      std::function<void(const ServiceEvent&)> callback);
  // Ends every watch `owner` holds (its Subscription objects become inert).
  void cancelWatches(const std::string& owner);

  std::size_t providerCount() const;

 private:
  struct Entry {
    ServiceKey id;
    std::string provider;
    std::size_t order = 0;
    std::uint64_t generation = 0;
    std::shared_ptr<Service> pinned;
  };
  struct Watch;

  void notify(const ServiceKey& id, const std::string& provider, ServiceChange change);

  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
  std::vector<std::shared_ptr<Watch>> watches_;
  std::uint64_t nextGeneration_ = 1;
};

// The registry as one plugin sees it: it may provide only what its manifest
// declares, and it provides under its own name.
class PluginServiceView final : public ServiceRegistry {
 public:
  PluginServiceView(ServiceDirectory& directory, const PluginManifest& manifest, std::size_t order,
                    std::shared_ptr<const void> pin);

  // hive::ServiceRegistry
  Status provide(ServiceId id, std::shared_ptr<Service> service) override;
  Status withdraw(ServiceId id) override;
  std::vector<ServiceLease> lookup(ServiceId id) const override;
  std::unique_ptr<Subscription> watch(ServiceId id, std::function<void(const ServiceEvent&)> callback) override;

  // Drops the library pin (after the plugin is stopped, its services withdrawn).
  void releasePin() { pin_.reset(); }

 private:
  ServiceDirectory& directory_;
  const PluginManifest& manifest_;
  std::size_t order_;
  std::shared_ptr<const void> pin_;
};

}  // namespace hive::host
