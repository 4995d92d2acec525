// The service registry: how plugins find each other without naming each other.
//
// A service is an abstract interface under sdk/include/hive/services/ with a
// typed id and a major version ("hive.store/1"). Several plugins may provide the
// same id (every plugin with HTTP routes provides "hive.routes/1").
//
// Pinning: a ServiceRef keeps the providing plugin's library mapped for as long
// as it lives. Hold one for the duration of a piece of work, not forever: a
// provider that is being unloaded waits for its pins to go.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hive/status.hpp"

namespace hive {

struct ServiceId {
  const char* name = "";
  std::uint32_t major = 0;

  std::string toString() const { return std::string(name) + "/" + std::to_string(major); }
  friend bool operator==(const ServiceId& a, const ServiceId& b) {
    return a.major == b.major && std::string_view(a.name) == std::string_view(b.name);
  }
};

// Base of every service interface. Each interface declares its id:
//   class Greeter : public hive::Service {
//    public:
//     static constexpr hive::ServiceId kServiceId{"example.greeter", 1};
//     virtual std::string greet(std::string_view name) = 0;
//   };
class Service {
 public:
  virtual ~Service() = default;
};

template <typename T>
concept ServiceInterface = std::derived_from<T, Service> && requires {
  { T::kServiceId } -> std::convertible_to<ServiceId>;
};

// One provider of a service, as handed out by the registry. Holding it pins the
// provider's library.
struct ServiceLease {
  std::shared_ptr<Service> service;
  std::string provider;          // plugin name
  std::uint64_t generation = 0;  // bumps each time the provider is replaced
};

template <ServiceInterface T>
class ServiceRef {
 public:
  ServiceRef() = default;
  explicit ServiceRef(ServiceLease lease)
      : service_(std::static_pointer_cast<T>(std::move(lease.service))),
        provider_(std::move(lease.provider)),
        generation_(lease.generation) {}

  T* operator->() const { return service_.get(); }
  T& operator*() const { return *service_; }
  explicit operator bool() const { return service_ != nullptr; }
  const std::string& provider() const { return provider_; }
  std::uint64_t generation() const { return generation_; }

 private:
  std::shared_ptr<T> service_;
  std::string provider_;
  std::uint64_t generation_ = 0;
};

// A stable reference to one provider of a service that follows it across hot
// swaps: each acquire() returns the generation serving now, pinned for as long
// as the lease lives. Hold the slot (or a ServiceHandle) for as long as you like;
// hold a lease only for one call or one unit of work.
class ServiceSlot {
 public:
  virtual ~ServiceSlot() = default;
  // The current generation; an empty lease when the provider is gone. While a
  // swap of the provider switches over (start of the new generation), this
  // waits instead of failing.
  virtual ServiceLease acquire() const = 0;
};

template <ServiceInterface T>
class ServiceHandle {
 public:
  ServiceHandle() = default;
  explicit ServiceHandle(std::shared_ptr<ServiceSlot> slot) : slot_(std::move(slot)) {}

  // One call's worth of the current provider:  handle.lease()->next();
  ServiceRef<T> lease() const { return slot_ ? ServiceRef<T>(slot_->acquire()) : ServiceRef<T>(); }
  explicit operator bool() const { return slot_ != nullptr; }

 private:
  std::shared_ptr<ServiceSlot> slot_;
};

enum class ServiceChange { kAdded, kRemoved, kReplaced };

struct ServiceEvent {
  ServiceId id;
  std::string provider;
  ServiceChange change = ServiceChange::kAdded;
};

// Cancels its watch when destroyed; after that the callback is not running and
// will not run again.
class Subscription {
 public:
  virtual ~Subscription() = default;
};

// Thread-safe. Each plugin gets its own view: what it provides is withdrawn, and
// what it watches is cancelled, when it stops.
class ServiceRegistry {
 public:
  virtual ~ServiceRegistry() = default;

  // Publishes `service` under `id`. The id must be listed in the plugin's manifest
  // `provides` (kFailedPrecondition otherwise); providing one id twice is
  // kAlreadyExists.
  virtual Status provide(ServiceId id, std::shared_ptr<Service> service) = 0;
  virtual Status withdraw(ServiceId id) = 0;
  // Every current provider of `id`, in plugin start order.
  virtual std::vector<ServiceLease> lookup(ServiceId id) const = 0;
  // `callback` runs on a kernel thread after each change of `id`'s providers.
  [[nodiscard]] virtual std::unique_ptr<Subscription> watch(
      ServiceId id, std::function<void(const ServiceEvent&)> callback) = 0;

  // A slot on provider `provider` of `id` (the first provider when empty) that
  // follows it across hot swaps; kNotFound when there is no such provider. The
  // default follows the provider by name through lookup(); the kernel's is a
  // cheaper direct reference.
  virtual Result<std::shared_ptr<ServiceSlot>> slot(ServiceId id, const std::string& provider = {}) {
    auto leases = lookup(id);
    for (const auto& lease : leases)
      if (provider.empty() || lease.provider == provider)
        return std::shared_ptr<ServiceSlot>(std::make_shared<LookupSlot>(*this, id, lease.provider));
    return notFound("no provider " + (provider.empty() ? std::string() : "'" + provider + "' ") +
                    "of service " + id.toString());
  }

  template <ServiceInterface T>
  Result<ServiceHandle<T>> handle(const std::string& provider = {}) {
    auto found = slot(T::kServiceId, provider);
    if (!found.ok()) return found.status();
    return ServiceHandle<T>(std::move(found).value());
  }

  template <ServiceInterface T>
  Status provide(std::shared_ptr<T> service) {
    return provide(T::kServiceId, std::shared_ptr<Service>(std::move(service)));
  }

  // The first provider of T (kNotFound when there is none).
  template <ServiceInterface T>
  Result<ServiceRef<T>> get() const {
    auto leases = lookup(T::kServiceId);
    if (leases.empty()) return notFound("no provider of service " + T::kServiceId.toString());
    return ServiceRef<T>(std::move(leases.front()));
  }

  template <ServiceInterface T>
  std::vector<ServiceRef<T>> getAll() const {
    std::vector<ServiceRef<T>> out;
    for (auto& lease : lookup(T::kServiceId)) out.emplace_back(std::move(lease));
    return out;
  }

 private:
  class LookupSlot final : public ServiceSlot {
   public:
    LookupSlot(const ServiceRegistry& registry, ServiceId id, std::string provider)
        : registry_(registry), id_(id), provider_(std::move(provider)) {}
    ServiceLease acquire() const override {
      for (auto& lease : registry_.lookup(id_))
        if (lease.provider == provider_) return lease;
      return {};
    }

   private:
    const ServiceRegistry& registry_;
    ServiceId id_;
    std::string provider_;
  };
};

}  // namespace hive
