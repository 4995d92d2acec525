// hive::testing::MemoryBus — an in-memory hive.bus/1 for unit tests of a plugin
// that publishes, subscribes or consumes streams, without a communication_engine
// and without a hand-written fake. It passes the bus conformance suite
// (hive/testing/bus_conformance.hpp), so what works against it works against
// the real providers.
//
//   auto bus = std::make_shared<hive::testing::MemoryBus>();
//   harness->provideFake<hive::bus::Bus>(bus);
//   ASSERT_TRUE(harness->start().ok());                 // the plugin subscribes
//   ASSERT_TRUE(bus->publish("tasks.7", R"({"state":"done"})").ok());
//   ASSERT_TRUE(bus->drain());                          // delivered to every subscriber
//   EXPECT_EQ(bus->published("reports.*").size(), 1u);  // what the plugin published
//
// Differences from the real providers, all on purpose:
//  - Ids are "<ms>-<seq>" from the wall clock, strictly increasing, and keep
//    increasing from one MemoryBus to the next made after it, as the real
//    providers' do (a consumer that skips ids it has seen, like the api's
//    WebSocket hub, keeps working across a played swap).
//  - Events are delivered by one thread of the bus (as the real providers do:
//    a callback may block, a subscription may be destroyed from inside its
//    callback). drain() waits until everything published so far was delivered.
//  - Subscriptions are this bus's alone: a swap played with provideFake() of a
//    new MemoryBus drops them, which is what a consumer that follows its
//    provider (hive::ServiceFollower) must cope with.
//  - failNext() makes the next calls fail, to test a plugin's error paths.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hive/services/bus.hpp"
#include "hive/status.hpp"

namespace hive::testing {

class MemoryBus final : public bus::Bus {
 public:
  struct Options {
    // Events kept for replay() and published(); older ones are out of range.
    std::size_t history = 1000;
    // Events waiting for delivery; publish() beyond it is kResourceExhausted,
    // as a real provider's bounded buffer is.
    std::size_t queueBound = 100'000;
  };

  MemoryBus();
  explicit MemoryBus(Options options);
  // Stops the delivery thread; events still queued are not delivered.
  ~MemoryBus() override;
  MemoryBus(const MemoryBus&) = delete;
  MemoryBus& operator=(const MemoryBus&) = delete;

  // ---- for the test ----
  // Waits until every event published so far has been handed to the
  // subscriptions (and their callbacks returned); false after `timeout`.
  // Never call it from inside a subscription callback (it would wait for itself).
  bool drain(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The events kept in the history (the last Options::history), oldest first;
  // with a pattern, those whose topic it matches.
  std::vector<bus::Event> published(std::string_view pattern = "*") const;
  // The next `calls` calls of publish, append, read and ping return `status`
  // (and change nothing).
  void failNext(Status status, std::size_t calls = 1);
  // Live subscriptions.
  std::size_t subscriptions() const;
  // What subscription callbacks threw, as "<pattern>: <what>", oldest first
  // (the bus catches it and delivers on, as the real providers do).
  std::vector<std::string> callbackErrors() const;

  // ---- bus::Bus ----
  Result<std::string> publish(std::string_view topic, std::string_view payload) override;
  [[nodiscard]] std::unique_ptr<Subscription> subscribe(
      std::string pattern, std::function<void(const bus::Event&)> callback) override;
  Result<std::vector<bus::Event>> replay(std::string_view pattern, std::string_view afterId,
                                         std::size_t limit = 1000) override;
  Result<std::string> append(std::string_view stream, std::string_view payload) override;
  Status createGroup(std::string_view stream, std::string_view group, bus::GroupOptions options) override;
  Result<std::vector<bus::StreamMessage>> read(std::string_view stream, std::string_view group,
                                               std::string_view consumer, std::size_t count,
                                               std::chrono::milliseconds wait) override;
  Status ack(std::string_view stream, std::string_view group, const std::vector<std::string>& ids) override;
  Result<std::vector<bus::PendingMessage>> pending(std::string_view stream, std::string_view group,
                                                   std::size_t limit = 1000) override;
  Result<std::vector<bus::StreamMessage>> claimIdle(std::string_view stream, std::string_view group,
                                                    std::string_view consumer,
                                                    std::chrono::milliseconds minIdle,
                                                    std::size_t count) override;
  Status deadLetter(std::string_view stream, std::string_view group, std::string_view id,
                    std::string_view reason) override;
  Result<std::vector<bus::DeadLetter>> deadLetters(std::string_view stream, std::string_view group,
                                                   std::size_t limit = 100) override;
  Result<std::size_t> replayDeadLetters(std::string_view stream, std::string_view group,
                                        const std::vector<std::string>& ids) override;
  Result<std::size_t> trim(std::string_view stream, std::size_t maxLength) override;
  Status ping() override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace hive::testing
