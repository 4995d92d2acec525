// The event publisher's commit order: units of work return from their commits
// in any order; the bus sees their events in ticket order (the order of their
// last appends to the event log, which is commit order), and a unit that did
// not commit gives its ticket back without holding the others up.
#include "publisher.hpp"

#include <mutex>

#include <gtest/gtest.h>

#include "hive/services/bus.hpp"
#include "hive/services/bus_batch.hpp"
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

// What the subscribers of "tasks" received, in order.
class TasksTopic {
 public:
  explicit TasksTopic(bus::Bus& bus)
      : subscription_(bus.subscribe("tasks", [this](const bus::Event& event) {
          std::lock_guard lock(mutex_);
          seen_.push_back(event.payload);
        })) {}
  std::vector<std::string> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> seen_;
  std::unique_ptr<Subscription> subscription_;  // goes first
};

TEST(EventPublisher, PublishesInTicketOrderWhateverOrderTheCommitsReturnIn) {
  auto harness = hive::testing::PluginHarness::create<Idle>("task_manager");
  auto bus = std::make_shared<hive::testing::MemoryBus>();
  harness->provideFake<bus::Bus>(bus, "communication_engine");
  TasksTopic tasks(*bus);
  auto publisher = std::make_shared<EventPublisher>(harness->context());

  std::uint64_t created = publisher->take(), rolledBack = publisher->take(), assigned = publisher->take(),
                succeeded = publisher->take();
  // The claim's commit returned first, then the result's: both wait for the submission.
  publisher->publish(assigned, events("t1", {"task.assigned"}));
  publisher->publish(succeeded, events("t1", {"task.succeeded"}));
  harness->runPending();
  ASSERT_TRUE(bus->drain());
  EXPECT_TRUE(tasks.seen().empty()) << "nothing before the first commit's events";
  publisher->publish(created, events("t1", {"task.created"}));
  harness->runPending();
  ASSERT_TRUE(bus->drain());
  EXPECT_EQ(tasks.seen().size(), 1u) << "the ticket between, not yet given back, holds the rest";
  publisher->abandon(rolledBack);
  harness->runPending();
  ASSERT_TRUE(bus->drain());
  EXPECT_EQ(tasks.seen(),
            (std::vector<std::string>{R"({"event":"task.created"})", R"({"event":"task.assigned"})",
                                      R"({"event":"task.succeeded"})"}));
  EXPECT_TRUE(publisher->idle());
}

// hive.bus_batch/1 over a MemoryBus: each event published in turn, counted.
class CountingBatches final : public bus::BatchPublisher {
 public:
  explicit CountingBatches(std::shared_ptr<bus::Bus> bus) : bus_(std::move(bus)) {}
  std::vector<Result<std::string>> publishAll(const std::vector<bus::Outgoing>& events) override {
    std::vector<Result<std::string>> out;
    std::lock_guard lock(mutex_);
    ++calls_;
    for (const auto& e : events) {
      topics_.push_back(e.topic);
      out.push_back(bus_->publish(e.topic, e.payload));
    }
    return out;
  }
  int calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  std::vector<std::string> topics() {
    std::lock_guard lock(mutex_);
    return topics_;
  }

 private:
  std::shared_ptr<bus::Bus> bus_;
  std::mutex mutex_;
  int calls_ = 0;
  std::vector<std::string> topics_;
};

// With the bus's own hive.bus_batch/1 the events waiting are handed over in
// one call, on "tasks.<id>" and "tasks" in turn; another plugin's is not used.
TEST(EventPublisher, HandsTheEventsToTheBusesBatchPublisherInOneCall) {
  for (const char* batchProvider : {"communication_engine", "someone_else"}) {
    auto harness = hive::testing::PluginHarness::create<Idle>("task_manager");
    auto bus = std::make_shared<hive::testing::MemoryBus>();
    auto batches = std::make_shared<CountingBatches>(bus);
    harness->provideFake<bus::Bus>(bus, "communication_engine");
    harness->provideFake<bus::BatchPublisher>(batches, batchProvider);
    TasksTopic tasks(*bus);
    auto publisher = std::make_shared<EventPublisher>(harness->context());
    std::uint64_t first = publisher->take(), second = publisher->take();
    publisher->publish(second, events("t2", {"task.created"}));
    publisher->publish(first, events("t1", {"task.created", "task.assigned"}));
    harness->runPending();
    ASSERT_TRUE(bus->drain());
    const bool ours = std::string(batchProvider) == "communication_engine";
    EXPECT_EQ(batches->calls(), ours ? 1 : 0) << batchProvider;
    if (ours)
      EXPECT_EQ(batches->topics(),
                (std::vector<std::string>{"tasks.t1", "tasks", "tasks.t1", "tasks", "tasks.t2", "tasks"}));
    EXPECT_EQ(tasks.seen(),
              (std::vector<std::string>{R"({"event":"task.created"})", R"({"event":"task.assigned"})",
                                        R"({"event":"task.created"})"}))
        << batchProvider;
  }
}

}  // namespace
}  // namespace hive::task_manager
