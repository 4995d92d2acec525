// hive::CallbackRegistry (sdk/include/hive/callbacks.hpp): what unsubscribing
// guarantees, under concurrency, and the registry shared by two generations
// through the kernel's hive.generation/1.
#include "hive/callbacks.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "host/service_registry.hpp"

namespace hive {
namespace {

using namespace std::chrono_literals;
using Registry = CallbackRegistry<int>;

TEST(CallbackRegistry, UnsubscribingDestroysTheCallbackBeforeItReturns) {
  Registry registry;
  auto captured = std::make_shared<int>(1);
  std::weak_ptr<int> watch = captured;
  auto subscription = registry.subscribe([captured](int) {});
  captured.reset();
  EXPECT_FALSE(watch.expired()) << "the registry holds the callback while subscribed";
  subscription.reset();
  EXPECT_TRUE(watch.expired()) << "the callback's captures go with the subscription";
  EXPECT_EQ(registry.size(), 0u);
  EXPECT_EQ(registry.fire(1), 0u);
}

// The subscriber's library unloads right after it unsubscribes: its state
// (here a heap object the callback uses) is freed at once. Without the wait,
// the running call would touch freed memory (ASan) or race (TSan).
TEST(CallbackRegistry, UnsubscribingWaitsForARunningCallOnAnotherThread) {
  Registry registry;
  auto state = std::make_unique<std::atomic<int>>(0);
  std::promise<void> entered;
  std::atomic<bool> release{false};
  auto subscription = registry.subscribe([&, raw = state.get()](int value) {
    entered.set_value();
    while (!release.load()) std::this_thread::yield();
    raw->store(value);
  });
  std::thread firing([&] { registry.fire(7); });
  entered.get_future().wait();
  std::atomic<bool> unsubscribed{false};
  std::thread unsubscribing([&] {
    subscription.reset();
    unsubscribed = true;
  });
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(unsubscribed.load()) << "returned while its callback was still running";
  release = true;
  unsubscribing.join();
  EXPECT_EQ(state->load(), 7);
  state.reset();  // "unloaded"
  firing.join();
}

TEST(CallbackRegistry, ACallbackMayUnsubscribeItselfAndIsDestroyedWhenItReturns) {
  Registry registry;
  auto captured = std::make_shared<int>(1);
  std::weak_ptr<int> watch = captured;
  std::unique_ptr<Subscription> subscription;
  int calls = 0;
  bool aliveAfterReset = false;
  subscription = registry.subscribe([&, captured](int) {
    ++calls;
    subscription.reset();              // no deadlock: it does not wait for itself
    aliveAfterReset = *captured == 1;  // its own captures live until it returns
  });
  captured.reset();
  EXPECT_EQ(registry.fire(1), 1u);
  EXPECT_TRUE(aliveAfterReset);
  EXPECT_TRUE(watch.expired()) << "destroyed on the firing thread as soon as it returned";
  EXPECT_EQ(registry.fire(2), 0u);
  EXPECT_EQ(calls, 1);
}

TEST(CallbackRegistry, ASubscriptionOutlivesItsRegistry) {
  auto registry = std::make_unique<Registry>();
  auto subscription = registry->subscribe([](int) {});
  registry.reset();      // the provider went first
  subscription.reset();  // no use of the freed registry (ASan)
}

TEST(CallbackRegistry, FireWhereMatchesKeysAndSkipsAReentrantCallOfTheRunningCallback) {
  Registry registry;
  int a = 0, b = 0;
  auto sa = registry.subscribe([&](int v) { a += v; }, "a");
  auto sb = registry.subscribe(
      [&](int v) {
        b += v;
        if (v == 1) registry.fire(100);  // b itself is skipped, a runs
      },
      "b");
  EXPECT_EQ(registry.fireWhere([](const std::string& key) { return key == "b"; }, 1), 1u);
  EXPECT_EQ(a, 100);
  EXPECT_EQ(b, 1);
  EXPECT_TRUE(registry.contains("a"));
  EXPECT_FALSE(registry.contains("c"));
}

TEST(CallbackRegistry, AThrowingCallbackIsReportedAndTheOthersStillRun) {
  Registry registry;
  std::string reported;
  registry.onError([&](const std::string& key, const std::string& what) { reported = key + ": " + what; });
  int calls = 0;
  auto s1 = registry.subscribe([](int) { throw std::runtime_error("boom"); }, "bad");
  auto s2 = registry.subscribe([&](int) { ++calls; }, "good");
  registry.fire(1);
  EXPECT_EQ(reported, "bad: boom");
  EXPECT_EQ(calls, 1);
}

// Subscribe, unsubscribe (from outside and from inside) and fire from several
// threads at once; every callback runs alone, never after its unsubscribe.
TEST(CallbackRegistry, ConcurrentSubscribeUnsubscribeAndFire) {
  Registry registry;
  std::atomic<bool> done{false};
  std::atomic<long> calls{0};
  std::vector<std::thread> firing;
  for (int i = 0; i < 2; ++i)
    firing.emplace_back([&] {
      while (!done) registry.fire(1);
    });
  std::vector<std::thread> subscribers;
  for (int t = 0; t < 3; ++t)
    subscribers.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        auto running = std::make_shared<std::atomic<int>>(0);
        auto unsubscribed = std::make_shared<std::atomic<bool>>(false);
        bool fromInside = t == 0 && i % 7 == 0;
        // Whoever takes it first (the callback or this thread) unsubscribes.
        auto handle = std::make_shared<std::atomic<Subscription*>>(nullptr);
        auto subscription = registry.subscribe([&, running, unsubscribed, handle, fromInside](int) {
          EXPECT_EQ(running->fetch_add(1), 0) << "two calls of one callback at once";
          EXPECT_FALSE(unsubscribed->load()) << "called after unsubscribe returned";
          calls.fetch_add(1);
          if (fromInside) delete handle->exchange(nullptr);
          running->fetch_sub(1);
        });
        handle->store(subscription.release());
        std::this_thread::yield();
        delete handle->exchange(nullptr);
        unsubscribed->store(true);
      }
    });
  for (auto& thread : subscribers) thread.join();
  done = true;
  for (auto& thread : firing) thread.join();
  EXPECT_EQ(registry.size(), 0u);
  EXPECT_GT(calls.load(), 0);
}

// ---- shared by generations (the kernel's hive.generation/1) ----

class Registrations final : public ServiceRegistry {
 public:
  Registrations(host::ServiceDirectory& directory, std::shared_ptr<const void> pin)
      : manifest_([] {
          host::PluginManifest manifest;
          manifest.name = "provider";
          manifest.version = "1.0.0";
          return manifest;
        }()),
        view_(directory, manifest_, 0, std::move(pin), "provider#1") {}
  Status provide(ServiceId id, std::shared_ptr<Service> service) override {
    return view_.provide(id, service);
  }
  Status withdraw(ServiceId id) override { return view_.withdraw(id); }
  std::vector<ServiceLease> lookup(ServiceId id) const override { return view_.lookup(id); }
  std::unique_ptr<Subscription> watch(ServiceId id,
                                      std::function<void(const ServiceEvent&)> callback) override {
    return view_.watch(id, std::move(callback));
  }
  void releasePin() { view_.releasePin(); }

 private:
  host::PluginManifest manifest_;
  host::PluginServiceView view_;
};

TEST(CallbackRegistry, TheNextGenerationFiresTheSubscriptionsOfThePreviousOne) {
  host::ServiceDirectory directory;
  auto pin1 = std::make_shared<int>(1);
  std::weak_ptr<int> pin1Watch = pin1;
  auto generation1 = std::make_unique<Registrations>(directory, pin1);
  pin1.reset();
  auto registry1 = std::make_unique<Registry>(*generation1, "events");
  std::vector<int> seen;
  auto subscription = registry1->subscribe([&](int value) { seen.push_back(value); });

  auto generation2 = std::make_unique<Registrations>(directory, std::make_shared<int>(2));
  auto registry2 = std::make_unique<Registry>(*generation2, "events");
  EXPECT_EQ(registry2->size(), 1u) << "the subscriber made on generation 1";

  // Generation 1 retires: stopped, destroyed, its pin released by the kernel.
  registry1.reset();
  generation1->releasePin();
  generation1.reset();
  EXPECT_FALSE(pin1Watch.expired()) << "the subscription pins the library of the generation that made it";

  EXPECT_EQ(registry2->fire(5), 1u);
  EXPECT_EQ(seen, std::vector<int>{5});
  subscription.reset();
  EXPECT_TRUE(pin1Watch.expired()) << "and lets it go with the subscription";
  EXPECT_EQ(registry2->size(), 0u);
  EXPECT_EQ(directory.sharedCount("provider"), 1u);
  registry2.reset();
  EXPECT_EQ(directory.sharedCount("provider"), 0u) << "the last holder ends the shared entry";
}

TEST(CallbackRegistry, AGenerationThatSharesAnotherTypeUnderTheNameStartsAfresh) {
  host::ServiceDirectory directory;
  Registrations generation1(directory, std::make_shared<int>(1));
  Registrations generation2(directory, std::make_shared<int>(2));
  Registry ints(generation1, "events");
  auto subscription = ints.subscribe([](int) {});
  CallbackRegistry<std::string> strings(generation2, "events");
  EXPECT_EQ(strings.size(), 0u);
  EXPECT_EQ(ints.size(), 1u);
}

}  // namespace
}  // namespace hive
