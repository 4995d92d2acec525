// A third-party consumer of hive.bus/1 and hive.store/1, in two builds:
//  - listener_naive (LISTENER_NAIVE): what the docs first led authors to write:
//    subscribe in start(), drop the subscriptions in stop(), nothing else.
//  - listener_taught: what docs/plugin-authors.md teaches for objects that must
//    be taken from the provider serving now: a hive::ServiceFollower per service.
// Both count what they receive and provide the counts as test.listener/1.
// Topic "lifetime.*" on the bus (config `topic`), queue "lifetime" in the store.
// With `log_events: true` each event is also logged ("heard event on <topic>"),
// which is how tests/e2e/lifetime_e2e.py sees them in the real hive.
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "hive/follower.hpp"
#include "hive/plugin.hpp"
#include "hive/services/bus.hpp"
#include "hive/services/store.hpp"
#include "listener_service.hpp"

namespace hive::test {
namespace {

class Counts final : public ListenerService {
 public:
  std::int64_t events() override { return events_.load(); }
  std::int64_t wakeups() override { return wakeups_.load(); }
  std::atomic<std::int64_t> events_{0};
  std::atomic<std::int64_t> wakeups_{0};
};

class ListenerPlugin final : public Plugin {
 public:
  explicit ListenerPlugin(PluginContext& context) : context_(context) {}

  // hive::Plugin
  void configure(const ConfigNode& section, Diagnostics& diagnostics) override {
    ConfigReader reader(section, diagnostics);
    topic_ = reader.get<std::string>("topic", topic_);
    logEvents_ = reader.get<bool>("log_events", false);
    reader.finish();
  }

#ifdef LISTENER_NAIVE
  Status start() override {
    auto bus = context_.services().get<bus::Bus>();
    if (!bus.ok()) return bus.status();
    auto store = context_.services().get<store::Store>();
    if (!store.ok()) return store.status();
    events_ = (*bus)->subscribe(topic_, onEvent());
    wakeups_ = (*store)->onClaimable("lifetime", [counts = counts_] { ++counts->wakeups_; });
    return context_.services().provide<ListenerService>(counts_);
  }
  void stop() override {
    events_.reset();
    wakeups_.reset();
  }
#else
  Status start() override {
    HIVE_TRY(events_.start());
    HIVE_TRY(wakeups_.start());
    return context_.services().provide<ListenerService>(counts_);
  }
  void stop() override {
    events_.stop();
    wakeups_.stop();
  }
#endif

 private:
  std::function<void(const bus::Event&)> onEvent() {
    Logger* log = logEvents_ ? &context_.log() : nullptr;
    return [counts = counts_, log](const bus::Event& event) {
      ++counts->events_;
      if (log) log->info("heard event on " + event.topic);
    };
  }

  PluginContext& context_;
  std::string topic_ = "lifetime.*";
  bool logEvents_ = false;
  std::shared_ptr<Counts> counts_ = std::make_shared<Counts>();
#ifdef LISTENER_NAIVE
  std::unique_ptr<Subscription> events_;
  std::unique_ptr<Subscription> wakeups_;
#else
  ServiceFollower<bus::Bus> events_{context_.services(),
                                    [this](bus::Bus& bus) { return bus.subscribe(topic_, onEvent()); }};
  ServiceFollower<store::Store> wakeups_{context_.services(), [counts = counts_](store::Store& store) {
                                           return store.onClaimable("lifetime",
                                                                    [counts] { ++counts->wakeups_; });
                                         }};
#endif
};

}  // namespace
}  // namespace hive::test

HIVE_PLUGIN(hive::test::ListenerPlugin, .name = LISTENER_NAME, .version = "1.0.0",
            .description = "Counts bus events and store wake-ups across swaps of their providers",
            .provides = {hive::test::ListenerService::kServiceId},
            .requiredServices = {hive::bus::Bus::kServiceId, hive::store::Store::kServiceId})
