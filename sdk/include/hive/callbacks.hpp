// hive::CallbackRegistry: the list of subscriber callbacks a provider keeps
// (bus events, store wake-ups, work notices), with one set of guarantees, so
// that no provider writes them by hand again (SDK ABI 1.3).
//
// A subscription is the std::unique_ptr<Subscription> that subscribe() returns.
// Destroying it (unsubscribing):
//  - destroys the callback before it returns: the callback's code and captures
//    belong to the subscriber, whose library may be unloaded right after;
//  - waits for a call of that callback running on another thread;
//  - may be done from inside the callback itself: it does not wait for itself,
//    and the callback is destroyed on the firing thread as soon as it returns.
// A callback never runs twice at once, and not after it was unsubscribed.
// Unsubscribing callback A from inside callback B while B is unsubscribed from
// inside A deadlocks, as any "wait for the running call" must: don't.
//
// Lifetime across hot swaps. Constructed with the plugin's ServiceRegistry and a
// name, the registry is shared by every generation of the plugin: the next
// generation's registry of the same name holds the same subscribers and fires
// them, so a consumer's subscription follows a swap of its provider without the
// consumer doing anything. Each subscription also pins the library of the
// generation that made it (the kernel's hive.generation/1): its code stays mapped
// until the consumer drops it, however many swaps later, without holding any
// swap back. The shared state has no code of its own (no virtual function, no
// shared_ptr control block): any generation may touch or free it. Construct and
// destroy such a registry in the plugin's lifecycle methods (constructor, start,
// stop, destructor), which the kernel runs one at a time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "hive/services.hpp"

namespace hive {

// hive.generation/1, provided by the kernel to each plugin generation (never
// listed in a manifest). What CallbackRegistry uses; a plugin rarely needs it.
class Generation : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.generation", 1};

  // Keeps this generation's library mapped while a copy lives. Unlike a lease,
  // it does not hold back a swap. Empty after the generation stopped.
  virtual std::shared_ptr<const void> pin() = 0;
  // Objects shared by the generations of this plugin, by name. share() returns
  // the object already shared under `name`, or else records `candidate` (and
  // the reference the caller gave up with it) and returns it; nullptr when
  // `name` is shared with another `type`. Each successful share() is matched by
  // one unshare(), which returns true to the last holder: it then releases the
  // recorded reference. The kernel never dereferences the pointers.
  virtual void* share(std::string_view name, std::string_view type, void* candidate) = 0;
  virtual bool unshare(std::string_view name, void* object) = 0;
};

namespace detail {

// Reference counting with no code pointer: released by whichever library's
// copy of release() drops the last reference.
template <typename T>
void retain(T* object) {
  object->references.fetch_add(1, std::memory_order_relaxed);
}
template <typename T>
void release(T* object) {
  if (object->references.fetch_sub(1, std::memory_order_acq_rel) == 1) delete object;
}

template <typename... Args>
struct CallbackNode {
  std::atomic<std::size_t> references{1};
  const std::string key;
  std::mutex mutex;
  std::condition_variable idle;  // signalled when a call ends or the node is cancelled
  std::function<void(Args...)> callback;
  bool running = false;
  bool cancelled = false;
  bool releaseAfterCall = false;  // cancelled from inside its own call
  std::thread::id runner;

  CallbackNode(std::string k, std::function<void(Args...)> f) : key(std::move(k)), callback(std::move(f)) {}

  void cancel() {
    std::function<void(Args...)> dead;
    {
      std::unique_lock lock(mutex);
      cancelled = true;
      if (running && runner == std::this_thread::get_id()) {
        releaseAfterCall = true;
        return;
      }
      idle.wait(lock, [&] { return !running; });
      dead = std::move(callback);
      callback = nullptr;
    }
    idle.notify_all();
    dead = nullptr;  // before the handle's destructor returns: the subscriber may unload next
  }
};

template <typename... Args>
struct CallbackCore {
  std::atomic<std::size_t> references{1};
  std::mutex mutex;
  std::vector<CallbackNode<Args...>*> nodes;  // each retained

  ~CallbackCore() {
    for (auto* node : nodes) release(node);
  }
};

}  // namespace detail

template <typename... Args>
class CallbackRegistry {
 public:
  using Callback = std::function<void(Args...)>;
  // Told about a callback that threw: its key and what() (or "unknown exception").
  using ErrorHandler = std::function<void(const std::string& key, const std::string& what)>;

  // A registry of this object alone (unit tests, providers without swaps).
  CallbackRegistry() : core_(new Core) {}
  // Shared with the other generations of the calling plugin under `name`, and
  // pinning; as a plain registry when the host has no hive.generation/1.
  CallbackRegistry(ServiceRegistry& services, std::string name) : name_(std::move(name)) {
    auto generation = services.get<Generation>();
    Core* fresh = new Core;
    if (!generation.ok()) {
      core_ = fresh;
      return;
    }
    generation_ = std::move(generation).value();
    pin_ = generation_->pin();
    void* shared = generation_->share(name_, typeTag(), fresh);
    if (shared == nullptr) {  // another type under this name: not shared
      generation_ = {};
      core_ = fresh;
      return;
    }
    // `fresh`'s reference went to the kernel's entry if it was recorded, which
    // keeps the shared core alive until the last holder unshares it.
    if (shared != fresh) detail::release(fresh);
    core_ = static_cast<Core*>(shared);
    detail::retain(core_);
  }
  ~CallbackRegistry() {
    if (generation_ && generation_->unshare(name_, core_)) detail::release(core_);
    detail::release(core_);
  }
  CallbackRegistry(const CallbackRegistry&) = delete;
  CallbackRegistry& operator=(const CallbackRegistry&) = delete;

  // Set before the first fire.
  void onError(ErrorHandler handler) { onError_ = std::move(handler); }

  // `key` is the subscriber's selector (a topic pattern, a queue name) that
  // fireWhere() matches; the registry does not interpret it.
  [[nodiscard]] std::unique_ptr<Subscription> subscribe(Callback callback, std::string key = {}) {
    auto* node = new Node(std::move(key), std::move(callback));
    detail::retain(node);  // one reference for the core, one for the handle
    {
      std::lock_guard lock(core_->mutex);
      core_->nodes.push_back(node);
    }
    return std::make_unique<Handle>(core_, node, pin_);
  }

  // Calls every callback whose key satisfies `match(key)`, one after another, on
  // this thread, with no lock held. A callback already running on this thread
  // (a re-entrant fire) is skipped. Returns the number of calls made.
  template <typename Match>
  std::size_t fireWhere(Match&& match, Args... args) {
    std::vector<Node*> targets;
    {
      std::lock_guard lock(core_->mutex);
      for (auto* node : core_->nodes)
        if (match(node->key)) {
          detail::retain(node);
          targets.push_back(node);
        }
    }
    std::size_t calls = 0;
    for (auto* node : targets) {
      if (run(*node, args...)) ++calls;
      detail::release(node);
    }
    return calls;
  }
  std::size_t fire(Args... args) {
    return fireWhere([](const std::string&) { return true; }, args...);
  }

  std::size_t size() const {
    std::lock_guard lock(core_->mutex);
    return core_->nodes.size();
  }
  bool contains(std::string_view key) const {
    std::lock_guard lock(core_->mutex);
    for (const auto* node : core_->nodes)
      if (node->key == key) return true;
    return false;
  }
  std::vector<std::string> keys() const {
    std::lock_guard lock(core_->mutex);
    std::vector<std::string> out;
    for (const auto* node : core_->nodes) out.push_back(node->key);
    return out;
  }

 private:
  using Node = detail::CallbackNode<Args...>;
  using Core = detail::CallbackCore<Args...>;

  // Members are destroyed in reverse order: the pin last, after every use of
  // this generation's code by the destructor.
  class Handle final : public Subscription {
   public:
    Handle(Core* core, Node* node, std::shared_ptr<const void> pin)
        : pin_(std::move(pin)), core_(core), node_(node) {
      detail::retain(core_);
    }
    ~Handle() override {
      node_->cancel();
      {
        std::lock_guard lock(core_->mutex);
        auto& nodes = core_->nodes;
        for (auto it = nodes.begin(); it != nodes.end(); ++it)
          if (*it == node_) {
            nodes.erase(it);
            detail::release(node_);  // the core's reference; the handle still holds one
            break;
          }
      }
      detail::release(node_);
      detail::release(core_);
    }

   private:
    std::shared_ptr<const void> pin_;
    Core* core_;
    Node* node_;
  };

  static constexpr std::string_view typeTag() { return __PRETTY_FUNCTION__; }

  bool run(Node& node, Args... args) {
    std::unique_lock lock(node.mutex);
    if (node.running && node.runner == std::this_thread::get_id()) return false;
    node.idle.wait(lock, [&] { return !node.running || node.cancelled; });
    if (node.cancelled || !node.callback) return false;
    node.running = true;
    node.runner = std::this_thread::get_id();
    lock.unlock();
    try {
      node.callback(args...);
    } catch (const std::exception& error) {
      report(node.key, error.what());
    } catch (...) {
      report(node.key, "unknown exception");
    }
    Callback dead;
    lock.lock();
    node.running = false;
    node.runner = {};
    if (node.releaseAfterCall) {
      dead = std::move(node.callback);
      node.callback = nullptr;
    }
    lock.unlock();
    node.idle.notify_all();
    return true;
  }

  void report(const std::string& key, const std::string& what) {
    // A subscriber's exception must not stop delivery to the others; the
    // provider's handler logs and counts it.
    if (onError_) onError_(key, what);
  }

  std::string name_;
  ServiceRef<Generation> generation_;
  std::shared_ptr<const void> pin_;
  Core* core_ = nullptr;
  ErrorHandler onError_;
};

}  // namespace hive
