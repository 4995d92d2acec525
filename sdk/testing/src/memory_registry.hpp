// An in-memory service registry: one store, one view per provider (the plugin's view
// is its context's registry, the test has its own).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "hive/manifest.h"
#include "hive/services.hpp"

namespace hive::testing::detail {

class ServiceStore {
 public:
  enum class Replace { kRefuse, kAllow };

  // Every service of `provider` will hold `pin` until the service itself is released,
  // so that a ServiceRef keeps the providing library mapped (the kernel's contract).
  void pinServicesOf(const std::string& provider, std::shared_ptr<void> pin);

  Status provide(const std::string& provider, ServiceId id, std::shared_ptr<Service> service,
                 Replace replace);
  Status withdraw(const std::string& provider, ServiceId id);
  void withdrawAll(const std::string& provider);
  std::vector<ServiceLease> lookup(ServiceId id) const;

  std::uint64_t addWatch(ServiceId id, std::function<void(const ServiceEvent&)> callback);
  void removeWatch(std::uint64_t key);

  // Drops every service and watch without notifying anyone (teardown, before the
  // library that made them is closed).
  void clear();

 private:
  struct Entry {
    std::string name;
    std::uint32_t major = 0;
    std::string provider;
    std::uint64_t generation = 1;
    std::shared_ptr<Service> service;
  };
  struct Watch {
    std::string name;
    std::uint32_t major = 0;
    std::function<void(const ServiceEvent&)> callback;
  };

  // A ServiceId whose name lives as long as the store: the caller's may point into a
  // plugin's read-only data.
  ServiceId intern(ServiceId id);
  void notify(ServiceId id, const std::string& provider, ServiceChange change);

  mutable std::mutex mutex_;
  std::set<std::string> names_;
  std::vector<Entry> entries_;  // in order of provision, as lookup() promises
  std::map<std::uint64_t, Watch> watches_;
  std::uint64_t nextWatch_ = 1;
  std::map<std::string, std::shared_ptr<void>> pins_;
};

// The registry as one provider sees it. With a manifest, provide() refuses ids the
// manifest does not list, as the kernel does.
class RegistryView final : public ServiceRegistry {
 public:
  RegistryView(std::shared_ptr<ServiceStore> store, std::string provider, const HiveManifest* manifest);
  ~RegistryView() override;

  // hive::ServiceRegistry
  Status provide(ServiceId id, std::shared_ptr<Service> service) override;
  Status withdraw(ServiceId id) override;
  std::vector<ServiceLease> lookup(ServiceId id) const override;
  std::unique_ptr<Subscription> watch(ServiceId id,
                                      std::function<void(const ServiceEvent&)> callback) override;

  // What the kernel does when the provider stops: withdraw its services, cancel its watches.
  void withdrawAndCancelAll();

 private:
  class WatchSubscription;
  struct Watches {
    std::mutex mutex;
    std::set<std::uint64_t> keys;
  };

  std::shared_ptr<ServiceStore> store_;
  std::string provider_;
  const HiveManifest* manifest_;
  // Shared with subscriptions, which may outlive the view.
  std::shared_ptr<Watches> watches_ = std::make_shared<Watches>();
};

}  // namespace hive::testing::detail
