// The event publisher's commit order: units of work return from their commits
// in any order; the bus sees their events in ticket order (the order of their
// last appends to the event log, which is commit order), and a unit that did
// not commit gives its ticket back without holding the others up.
#include "publisher.hpp"

#include <mutex>

#include <gtest/gtest.h>

#include "hive/services/bus.hpp"
#include "hive/testing/harness.hpp"
#include "hive/testing/memory_bus.hpp"
#include "plugin.hpp"

namespace hive::task_manager {
namespace {

// Only its context is used: the publisher's blocking executor and services.
class Idle final : public Plugin {
 public:
  explicit Idle(PluginContext&) {}
  void configure(const ConfigNode&, Diagnostics&) override {}
  Status start() override { return okStatus(); }
  void stop() override {}
};

std::vector<TaskEvent> events(const std::string& id, std::initializer_list<const char*> names) {
  std::vector<TaskEvent> out;
  for (const char* name : names) out.push_back({id, std::string("{\"event\":\"") + name + "\"}"});
  return out;
}

TEST(EventPublisher, PublishesInTicketOrderWhateverOrderTheCommitsReturnIn) {
  auto harness = hive::testing::PluginHarness::create<Idle>("task_manager");
  auto bus = std::make_shared<hive::testing::MemoryBus>();
  harness->provideFake<bus::Bus>(bus, "communication_engine");
  std::vector<std::string> seen;
  std::mutex mutex;
  auto subscription = bus->subscribe("tasks", [&](const bus::Event& event) {
    std::lock_guard lock(mutex);
    seen.push_back(event.payload);
  });
  auto publisher = std::make_shared<EventPublisher>(harness->context());

  std::uint64_t created = publisher->take(), rolledBack = publisher->take(), assigned = publisher->take(),
                succeeded = publisher->take();
  // The claim's commit returned first, then the result's: both wait for the submission.
  publisher->publish(assigned, events("t1", {"task.assigned"}));
  publisher->publish(succeeded, events("t1", {"task.succeeded"}));
  harness->runPending();
  ASSERT_TRUE(bus->drain());
  {
    std::lock_guard lock(mutex);
    EXPECT_TRUE(seen.empty()) << "nothing before the first commit's events";
  }
  publisher->publish(created, events("t1", {"task.created"}));
  harness->runPending();
  ASSERT_TRUE(bus->drain());
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(seen.size(), 1u) << "the ticket between, not yet given back, holds the rest";
  }
  publisher->abandon(rolledBack);
  harness->runPending();
  ASSERT_TRUE(bus->drain());
  std::lock_guard lock(mutex);
  EXPECT_EQ(seen, (std::vector<std::string>{R"({"event":"task.created"})", R"({"event":"task.assigned"})",
                                            R"({"event":"task.succeeded"})"}));
  EXPECT_TRUE(publisher->idle());
}

}  // namespace
}  // namespace hive::task_manager
