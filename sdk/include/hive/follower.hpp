// hive::ServiceFollower: holds objects taken from one provider of a service and
// follows that provider across hot swaps (SDK ABI 1.3).
//
// Subscriptions made through a hive::CallbackRegistry already follow a swap on
// their own (hive/callbacks.hpp). Use a follower for what does not: per-provider
// state a consumer builds from the service (a stream consumer, a session, an
// Execution), or any object from a provider you do not know to use the
// registry. On kReplaced the follower destroys what it held, while the old
// generation's library is still mapped (the kernel notifies before it retires
// the old generation), then calls `attach` with the new generation. On
// kRemoved it destroys what it held; on kAdded (a provider that came back) it
// attaches again.
//
//   hive::ServiceFollower<hive::bus::Bus> events_{context.services(),
//       [this](hive::bus::Bus& bus) { return bus.subscribe("tasks.*", onTask); }};
//   Status start() override { return events_.start(); }
//   void stop() override { events_.stop(); }
//
// `attach` runs on the thread calling start() and on a kernel thread after a
// swap, never twice at once; it must not call start() or stop().
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "hive/services.hpp"
#include "hive/status.hpp"

namespace hive {

template <ServiceInterface T, typename Held = std::unique_ptr<Subscription>>
class ServiceFollower {
 public:
  using Attach = std::function<Held(T& service)>;

  // Follows `provider` of T (the first provider when empty).
  ServiceFollower(ServiceRegistry& services, Attach attach, std::string provider = {})
      : services_(services), attach_(std::move(attach)), provider_(std::move(provider)) {}
  ~ServiceFollower() { stop(); }
  ServiceFollower(const ServiceFollower&) = delete;
  ServiceFollower& operator=(const ServiceFollower&) = delete;

  // Attaches to the provider serving now (kNotFound when there is none) and
  // starts following it.
  Status start() {
    watch_ = services_.watch(T::kServiceId, [this](const ServiceEvent& event) {
      if (!provider_.empty() && event.provider != provider_) return;
      std::lock_guard lock(mutex_);
      if (!following_ || (provider_.empty() && !attachedTo_.empty() && event.provider != attachedTo_)) return;
      Held old = std::exchange(held_, Held{});
      old = Held{};  // while the old generation is still loaded
      attachedTo_.clear();
      if (event.change != ServiceChange::kRemoved) (void)attachLocked();
    });
    std::lock_guard lock(mutex_);
    following_ = true;
    return attachLocked();
  }

  // Drops what it holds and stops following. After it returns `attach` is not
  // running and will not run again.
  void stop() {
    watch_.reset();
    std::lock_guard lock(mutex_);
    following_ = false;
    Held old = std::exchange(held_, Held{});
    attachedTo_.clear();
  }

  // How many times `attach` ran with a provider (tests, status).
  std::size_t attachments() const {
    std::lock_guard lock(mutex_);
    return attachments_;
  }
  bool attached() const {
    std::lock_guard lock(mutex_);
    return !attachedTo_.empty();
  }

 private:
  Status attachLocked() {
    for (auto& lease : services_.lookup(T::kServiceId)) {
      if (!provider_.empty() && lease.provider != provider_) continue;
      ServiceRef<T> ref(std::move(lease));
      held_ = attach_(*ref);
      attachedTo_ = ref.provider();
      ++attachments_;
      return okStatus();
    }
    return notFound("no provider " + (provider_.empty() ? std::string() : "'" + provider_ + "' ") +
                    "of service " + T::kServiceId.toString());
  }

  ServiceRegistry& services_;
  const Attach attach_;
  const std::string provider_;
  mutable std::mutex mutex_;
  bool following_ = false;
  Held held_{};
  std::string attachedTo_;
  std::size_t attachments_ = 0;
  std::unique_ptr<Subscription> watch_;
};

}  // namespace hive
