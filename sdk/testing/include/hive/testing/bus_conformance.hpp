// The conformance suite of hive.bus/1: every provider of hive::bus::Bus passes it.
//
// Header-only GoogleTest; it needs the installed SDK headers and GTest, nothing else.
// Include it in exactly one source file of a test executable (it defines the
// tests) and instantiate it with a factory that gives a fresh bus per test:
//
//   #include "hive/testing/bus_conformance.hpp"
//
//   using hive::testing::BusConformance;  // the macro needs an unqualified name
//   INSTANTIATE_TEST_SUITE_P(
//       MyBus, BusConformance,
//       ::testing::Values(hive::testing::BusProvider{
//           .name = "mine",
//           .make = [] { return std::shared_ptr<hive::bus::Bus>(makeMyBus(...)); },
//           .history = 64}),
//       hive::testing::busProviderName);
//
// `make` returns a started bus with no events and no streams (a provider backed
// by a shared server gives each bus its own key prefix); the shared_ptr's
// deleter may stop whatever hosts it. `history` is how many events the bus was
// configured to keep for replay; keep it small (the suite publishes more than
// that to see old ids refused). Every wait in the suite is bounded.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "hive/services/bus.hpp"
#include "hive/services/bus_batch.hpp"

namespace hive::testing {

struct BusProvider {
  std::string name;  // the test name suffix: [A-Za-z0-9_]
  std::function<std::shared_ptr<bus::Bus>()> make;
  std::size_t history = 0;  // events kept for replay, as the bus was configured
  // Optional: a fresh bus, as `make` gives, with its hive.bus_batch/1 (SDK
  // 2.12) when the provider offers one; the publishAll tests are skipped
  // without it.
  std::function<std::pair<std::shared_ptr<bus::Bus>, std::shared_ptr<bus::BatchPublisher>>()> makeWithBatch;
};

// gtest prints the parameter by its name rather than its bytes.
inline void PrintTo(const BusProvider& provider, std::ostream* out) { *out << provider.name; }

inline std::string busProviderName(const ::testing::TestParamInfo<BusProvider>& info) {
  return info.param.name;
}

// What a subscription received, for assertions from the test thread.
class EventRecorder {
 public:
  std::function<void(const bus::Event&)> callback() {
    return [this](const bus::Event& event) {
      if (inside_.exchange(true)) overlapped_ = true;
      {
        std::lock_guard lock(mutex_);
        events_.push_back(event);
      }
      inside_ = false;
      changed_.notify_all();
    };
  }

  // Waits (bounded) until `count` events arrived; false on timeout.
  bool waitForCount(std::size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return events_.size() >= count; });
  }
  // Waits (bounded) until an event on `topic` with `payload` arrived.
  bool waitFor(const std::string& topic, const std::string& payload,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      return std::any_of(events_.begin(), events_.end(),
                         [&](const bus::Event& e) { return e.topic == topic && e.payload == payload; });
    });
  }
  std::vector<bus::Event> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::vector<std::string> topics() const {
    std::vector<std::string> out;
    for (const auto& e : events()) out.push_back(e.topic);
    return out;
  }
  bool overlapped() const { return overlapped_; }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<bus::Event> events_;
  std::atomic<bool> inside_{false};
  std::atomic<bool> overlapped_{false};
};

class BusConformance : public ::testing::TestWithParam<BusProvider> {
 protected:
  void SetUp() override {
    bus_ = GetParam().make();
    ASSERT_NE(bus_, nullptr) << "the factory gave no bus";
  }
  void TearDown() override { bus_.reset(); }

  bus::Bus& bus() { return *bus_; }

  std::string publishOk(const std::string& topic, const std::string& payload) {
    auto id = bus_->publish(topic, payload);
    EXPECT_TRUE(id.ok()) << id.status().toString();
    return id.ok() ? *id : std::string();
  }
  std::string appendOk(const std::string& stream, const std::string& payload) {
    auto id = bus_->append(stream, payload);
    EXPECT_TRUE(id.ok()) << id.status().toString();
    return id.ok() ? *id : std::string();
  }
  std::vector<bus::StreamMessage> readOk(const std::string& stream, const std::string& group,
                                         const std::string& consumer, std::size_t count,
                                         std::chrono::milliseconds wait = std::chrono::milliseconds(0)) {
    auto messages = bus_->read(stream, group, consumer, count, wait);
    EXPECT_TRUE(messages.ok()) << messages.status().toString();
    return messages.ok() ? *messages : std::vector<bus::StreamMessage>();
  }
  static std::vector<std::string> payloads(const std::vector<bus::StreamMessage>& messages) {
    std::vector<std::string> out;
    for (const auto& m : messages) out.push_back(m.payload);
    return out;
  }
  static std::vector<std::string> ids(const std::vector<bus::StreamMessage>& messages) {
    std::vector<std::string> out;
    for (const auto& m : messages) out.push_back(m.id);
    return out;
  }

  std::shared_ptr<bus::Bus> bus_;
};

// ---------------------------------------------------------------- events

TEST_P(BusConformance, PublishReturnsIncreasingIds) {
  std::string a = publishOk("ids.one", "1");
  std::string b = publishOk("ids.two", "2");
  std::string c = publishOk("ids.one", "3");
  EXPECT_LT(bus::compareIds(a, b), 0) << a << " then " << b;
  EXPECT_LT(bus::compareIds(b, c), 0) << b << " then " << c;
}

TEST_P(BusConformance, SubscriptionsReceiveWhatTheirPatternMatches) {
  EventRecorder tasks, task42, all, other;
  auto s1 = bus().subscribe("tasks.*", tasks.callback());
  auto s2 = bus().subscribe("tasks.42", task42.callback());
  auto s3 = bus().subscribe("*", all.callback());
  auto s4 = bus().subscribe("other.*", other.callback());
  ASSERT_TRUE(s1 && s2 && s3 && s4);

  std::string id = publishOk("tasks.42", "started");
  publishOk("tasks.7.logs", "line");
  publishOk("agents.1", "up");
  publishOk("other.x", "o");
  publishOk("tasks.42", "end");  // published last: once it arrived, everything before it did
  publishOk("other.end", "end");
  ASSERT_TRUE(tasks.waitFor("tasks.42", "end"));
  ASSERT_TRUE(task42.waitFor("tasks.42", "end"));
  ASSERT_TRUE(all.waitFor("other.end", "end"));
  ASSERT_TRUE(other.waitFor("other.end", "end"));

  using V = std::vector<std::string>;
  EXPECT_EQ(tasks.topics(), (V{"tasks.42", "tasks.7.logs", "tasks.42"}));
  EXPECT_EQ(task42.topics(), (V{"tasks.42", "tasks.42"}));
  EXPECT_EQ(all.topics(), (V{"tasks.42", "tasks.7.logs", "agents.1", "other.x", "tasks.42", "other.end"}));
  EXPECT_EQ(other.topics(), (V{"other.x", "other.end"}));
  auto first = task42.events().front();
  EXPECT_EQ(first.id, id);
  EXPECT_EQ(first.payload, "started");
  EXPECT_GT(first.timestampMs, 0);
}

TEST_P(BusConformance, DeliversInPublishOrderPerPublisherAndNeverConcurrently) {
  constexpr int kPerPublisher = 200;
  EventRecorder recorder;
  auto subscription = bus().subscribe("order.*", recorder.callback());
  ASSERT_TRUE(subscription);
  std::vector<std::thread> publishers;
  std::atomic<int> failures{0};
  for (int p = 0; p < 3; ++p) {
    publishers.emplace_back([&, p] {
      for (int i = 0; i < kPerPublisher; ++i)
        if (!bus().publish("order.p" + std::to_string(p), std::to_string(i)).ok()) ++failures;
    });
  }
  for (auto& t : publishers) t.join();
  ASSERT_EQ(failures.load(), 0);
  ASSERT_TRUE(recorder.waitForCount(3 * kPerPublisher)) << recorder.events().size() << " arrived";

  int next[3] = {0, 0, 0};
  for (const auto& e : recorder.events()) {
    int p = e.topic.back() - '0';
    ASSERT_GE(p, 0);
    ASSERT_LT(p, 3);
    EXPECT_EQ(e.payload, std::to_string(next[p])) << "publisher " << p << " out of order";
    ++next[p];
  }
  EXPECT_FALSE(recorder.overlapped()) << "callbacks of one subscription ran concurrently";
}

// hive.bus_batch/1: publishAll() is publish() for each event in turn, waited
// for once: the same ids, the same order for subscribers and replay, and a
// refused event refuses only itself.
TEST_P(BusConformance, PublishAllIsPublishForEachInTurn) {
  if (!GetParam().makeWithBatch) GTEST_SKIP() << "the provider offers no hive.bus_batch/1";
  auto [bus, batch] = GetParam().makeWithBatch();
  ASSERT_NE(bus, nullptr);
  ASSERT_NE(batch, nullptr);
  EventRecorder recorder;
  auto subscription = bus->subscribe("batch.*", recorder.callback());
  ASSERT_TRUE(subscription);
  auto before = bus->publish("batch.x", "before");
  ASSERT_TRUE(before.ok()) << before.status().toString();

  // All of them stay in the history, for replay() below.
  const int kEvents = std::min(20, static_cast<int>(GetParam().history) - 4) / 2 * 2;
  ASSERT_GE(kEvents, 4) << "the suite needs a history of at least 8 events";
  std::vector<bus::Outgoing> events;
  for (int i = 0; i < kEvents; ++i) events.push_back({i % 2 ? "batch.b" : "batch.a", std::to_string(i)});
  events.insert(events.begin() + 3, bus::Outgoing{"batch.not a topic", "refused"});
  auto results = batch->publishAll(events);
  ASSERT_EQ(results.size(), events.size());
  EXPECT_EQ(results[3].status().code(), StatusCode::kInvalidArgument) << "a bad topic is refused";
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (i == 3) continue;
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status().toString();
    EXPECT_LT(bus::compareIds(ids.empty() ? *before : ids.back(), *results[i]), 0) << "ids increase in order";
    ids.push_back(*results[i]);
  }
  auto after = bus->publish("batch.x", "after");
  ASSERT_TRUE(after.ok()) << after.status().toString();
  EXPECT_LT(bus::compareIds(ids.back(), *after), 0);

  ASSERT_TRUE(recorder.waitFor("batch.x", "after"));
  auto seen = recorder.events();
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kEvents) + 2);
  EXPECT_EQ(seen.front().payload, "before");
  EXPECT_EQ(seen.back().payload, "after");
  for (int i = 0; i < kEvents; ++i) {
    EXPECT_EQ(seen[i + 1].payload, std::to_string(i)) << "subscribers see them in order";
    EXPECT_EQ(seen[i + 1].id, ids[i]) << "with the ids publishAll answered";
  }
  auto replayed = bus->replay("batch.a", *before);
  ASSERT_TRUE(replayed.ok()) << replayed.status().toString();
  ASSERT_EQ(replayed->size(), static_cast<std::size_t>(kEvents / 2));
  for (int k = 0; k < kEvents / 2; ++k) EXPECT_EQ((*replayed)[k].payload, std::to_string(2 * k));
  EXPECT_TRUE(batch->publishAll({}).empty());
}

TEST_P(BusConformance, DestroyingTheSubscriptionStopsDelivery) {
  EventRecorder kept;
  std::atomic<bool> destroyed{false};
  std::atomic<int> afterDestroy{0};
  std::atomic<int> received{0};
  auto keptSubscription = bus().subscribe("unsub.*", kept.callback());
  auto subscription = bus().subscribe("unsub.*", [&](const bus::Event&) {
    if (destroyed) ++afterDestroy;
    ++received;
  });
  publishOk("unsub.a", "1");
  ASSERT_TRUE(kept.waitForCount(1));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (received == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(received.load(), 1);

  subscription.reset();
  destroyed = true;
  for (int i = 0; i < 20; ++i) publishOk("unsub.b", std::to_string(i));
  ASSERT_TRUE(kept.waitFor("unsub.b", "19"));
  EXPECT_EQ(afterDestroy.load(), 0) << "a destroyed subscription still received events";
  EXPECT_EQ(received.load(), 1);
}

// The lifetime guarantees of a subscription (SDK 1.3, hive/callbacks.hpp; a
// provider gets them by keeping its subscribers in a hive::CallbackRegistry).
TEST_P(BusConformance, DestroyingTheSubscriptionDestroysItsCallbackAtOnce) {
  auto captured = std::make_shared<int>(0);
  std::weak_ptr<int> watch = captured;
  auto subscription = bus().subscribe("life.*", [captured](const bus::Event&) {});
  captured.reset();
  ASSERT_FALSE(watch.expired());
  subscription.reset();
  EXPECT_TRUE(watch.expired()) << "the callback (subscriber code and captures) outlived its subscription";
}

TEST_P(BusConformance, DestroyingTheSubscriptionWaitsForItsRunningCallback) {
  std::atomic<bool> entered{false}, release{false}, finished{false};
  auto subscription = bus().subscribe("life.wait", [&](const bus::Event&) {
    entered = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    finished = true;
  });
  publishOk("life.wait", "1");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!entered && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(entered.load());
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    release = true;
  });
  subscription.reset();
  EXPECT_TRUE(finished.load()) << "the subscription was destroyed while its callback still ran";
  releaser.join();
}

TEST_P(BusConformance, ACallbackMayDestroyItsOwnSubscription) {
  std::unique_ptr<Subscription> subscription;
  std::atomic<int> calls{0};
  EventRecorder after;
  auto keep = bus().subscribe("life.self", after.callback());
  subscription = bus().subscribe("life.self", [&](const bus::Event&) {
    subscription.reset();  // must neither deadlock nor crash
    ++calls;
  });
  publishOk("life.self", "1");
  publishOk("life.self", "2");
  ASSERT_TRUE(after.waitForCount(2));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (calls == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(calls.load(), 1);
}

TEST_P(BusConformance, ReplayReturnsLaterMatchingEventsOldestFirst) {
  std::string a = publishOk("replay.one", "a");
  std::string b = publishOk("replay.one", "b");
  std::string x = publishOk("replay.two", "x");
  std::string c = publishOk("replay.one", "c");

  auto one = bus().replay("replay.one", a);
  ASSERT_TRUE(one.ok()) << one.status().toString();
  ASSERT_EQ(one->size(), 2u);
  EXPECT_EQ((*one)[0].id, b);
  EXPECT_EQ((*one)[0].payload, "b");
  EXPECT_EQ((*one)[0].topic, "replay.one");
  EXPECT_EQ((*one)[1].id, c);

  auto all = bus().replay("replay.*", a);
  ASSERT_TRUE(all.ok()) << all.status().toString();
  std::vector<std::string> got;
  for (const auto& e : *all) got.push_back(e.payload);
  EXPECT_EQ(got, (std::vector<std::string>{"b", "x", "c"}));

  auto limited = bus().replay("replay.*", a, 2);
  ASSERT_TRUE(limited.ok());
  ASSERT_EQ(limited->size(), 2u);
  EXPECT_EQ((*limited)[1].id, x);

  auto none = bus().replay("replay.*", c);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  EXPECT_EQ(bus().replay("replay.*", "not-an-id").status().code(), StatusCode::kInvalidArgument);
}

TEST_P(BusConformance, ReplayFromAnIdOlderThanTheHistoryIsOutOfRange) {
  const std::size_t history = GetParam().history;
  ASSERT_GT(history, 0u) << "BusProvider.history must say how many events the bus keeps";
  std::vector<std::string> published;
  for (std::size_t i = 0; i < history + 5; ++i) published.push_back(publishOk("old.t", std::to_string(i)));

  auto tooOld = bus().replay("old.*", published.front());
  EXPECT_EQ(tooOld.status().code(), StatusCode::kOutOfRange) << tooOld.status().toString();

  // The newest ids are still kept.
  auto recent = bus().replay("old.*", published[published.size() - 3]);
  ASSERT_TRUE(recent.ok()) << recent.status().toString();
  ASSERT_EQ(recent->size(), 2u);
  EXPECT_EQ(recent->back().id, published.back());
}

// ---------------------------------------------------------------- streams

TEST_P(BusConformance, AppendedMessagesAreReadByAGroupOnce) {
  ASSERT_TRUE(bus().createGroup("jobs", "workers", {}).ok());
  std::string a = appendOk("jobs", "a");
  std::string b = appendOk("jobs", "b");
  EXPECT_LT(bus::compareIds(a, b), 0);

  auto got = readOk("jobs", "workers", "w1", 10);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(payloads(got), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(got[0].id, a);
  EXPECT_EQ(got[0].stream, "jobs");
  EXPECT_EQ(got[0].deliveries, 1u);
  EXPECT_TRUE(readOk("jobs", "workers", "w1", 10).empty()) << "read twice";

  // Another group reads the same messages independently.
  ASSERT_TRUE(bus().createGroup("jobs", "auditors", {}).ok());
  EXPECT_EQ(payloads(readOk("jobs", "auditors", "x", 10)), (std::vector<std::string>{"a", "b"}));
}

TEST_P(BusConformance, ReadWaitsBoundedlyForANewMessage) {
  ASSERT_TRUE(bus().createGroup("waiting", "g", {}).ok());
  auto empty = readOk("waiting", "g", "c", 5, std::chrono::milliseconds(50));
  EXPECT_TRUE(empty.empty());

  std::vector<bus::StreamMessage> got;
  std::thread reader([&] { got = readOk("waiting", "g", "c", 5, std::chrono::seconds(10)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  appendOk("waiting", "late");
  reader.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "late");
}

TEST_P(BusConformance, AGroupCreatedNotFromTheBeginningSeesOnlyNewMessages) {
  appendOk("fresh", "before");
  bus::GroupOptions options;
  options.fromBeginning = false;
  ASSERT_TRUE(bus().createGroup("fresh", "g", options).ok());
  appendOk("fresh", "after");
  EXPECT_EQ(payloads(readOk("fresh", "g", "c", 10)), (std::vector<std::string>{"after"}));

  // Creating it again is fine and keeps its position.
  ASSERT_TRUE(bus().createGroup("fresh", "g", {}).ok());
  EXPECT_TRUE(readOk("fresh", "g", "c", 10).empty());
}

TEST_P(BusConformance, TwoConsumersOfAGroupShareTheMessages) {
  ASSERT_TRUE(bus().createGroup("shared", "g", {}).ok());
  std::set<std::string> appended;
  for (int i = 0; i < 20; ++i) appended.insert(appendOk("shared", "m" + std::to_string(i)));
  auto first = readOk("shared", "g", "alice", 5);
  auto second = readOk("shared", "g", "bob", 100);
  EXPECT_EQ(first.size(), 5u);
  EXPECT_EQ(second.size(), 15u);
  std::set<std::string> seen;
  for (const auto& m : first) seen.insert(m.id);
  for (const auto& m : second) EXPECT_TRUE(seen.insert(m.id).second) << m.id << " delivered to both";
  EXPECT_EQ(seen, appended);
}

TEST_P(BusConformance, PendingListsUnackedMessagesUntilAcked) {
  ASSERT_TRUE(bus().createGroup("acks", "g", {}).ok());
  std::string a = appendOk("acks", "a");
  std::string b = appendOk("acks", "b");
  ASSERT_EQ(readOk("acks", "g", "worker", 10).size(), 2u);

  auto pending = bus().pending("acks", "g");
  ASSERT_TRUE(pending.ok()) << pending.status().toString();
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].id, a);
  EXPECT_EQ((*pending)[0].consumer, "worker");
  EXPECT_EQ((*pending)[0].deliveries, 1u);

  ASSERT_TRUE(bus().ack("acks", "g", {a}).ok());
  pending = bus().pending("acks", "g");
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].id, b);
  ASSERT_TRUE(bus().ack("acks", "g", {b}).ok());
  EXPECT_TRUE(bus().pending("acks", "g")->empty());
}

TEST_P(BusConformance, ClaimIdleTakesOverTheMessagesOfADeadConsumer) {
  ASSERT_TRUE(bus().createGroup("claims", "g", {}).ok());
  for (int i = 0; i < 3; ++i) appendOk("claims", "m" + std::to_string(i));
  auto taken = readOk("claims", "g", "dies", 10);  // never acked: the consumer "dies"
  ASSERT_EQ(taken.size(), 3u);

  auto notYet = bus().claimIdle("claims", "g", "rescuer", std::chrono::minutes(10), 10);
  ASSERT_TRUE(notYet.ok()) << notYet.status().toString();
  EXPECT_TRUE(notYet->empty()) << "claimed messages that were not idle long enough";

  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  auto claimed = bus().claimIdle("claims", "g", "rescuer", std::chrono::milliseconds(100), 10);
  ASSERT_TRUE(claimed.ok()) << claimed.status().toString();
  ASSERT_EQ(claimed->size(), 3u);
  EXPECT_EQ(ids(*claimed), ids(taken));
  EXPECT_EQ(payloads(*claimed), payloads(taken));
  EXPECT_EQ((*claimed)[0].deliveries, 2u);

  auto pending = bus().pending("claims", "g");
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 3u);
  for (const auto& p : *pending) {
    EXPECT_EQ(p.consumer, "rescuer");
    EXPECT_EQ(p.deliveries, 2u);
  }
  ASSERT_TRUE(bus().ack("claims", "g", ids(*claimed)).ok());
  EXPECT_TRUE(bus().pending("claims", "g")->empty());
}

TEST_P(BusConformance, AMessageDeliveredMaxDeliveriesTimesMovesToTheDeadLetters) {
  bus::GroupOptions options;
  options.maxDeliveries = 2;
  ASSERT_TRUE(bus().createGroup("poison", "g", options).ok());
  std::string id = appendOk("poison", "bad");
  std::string good = appendOk("poison", "good");
  ASSERT_EQ(readOk("poison", "g", "a", 1).size(), 1u);  // delivery 1 of "bad"
  auto second = bus().claimIdle("poison", "g", "b", std::chrono::milliseconds(0), 10);
  ASSERT_TRUE(second.ok()) << second.status().toString();
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].deliveries, 2u);

  auto third = bus().claimIdle("poison", "g", "b", std::chrono::milliseconds(0), 10);
  ASSERT_TRUE(third.ok()) << third.status().toString();
  EXPECT_TRUE(third->empty()) << "delivered a third time instead of dead-lettered";
  EXPECT_TRUE(bus().pending("poison", "g")->empty()) << "a dead-lettered message must be acked";

  auto letters = bus().deadLetters("poison", "g");
  ASSERT_TRUE(letters.ok()) << letters.status().toString();
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ((*letters)[0].originalId, id);
  EXPECT_EQ((*letters)[0].payload, "bad");
  EXPECT_EQ((*letters)[0].deliveries, 2u);
  EXPECT_FALSE((*letters)[0].reason.empty());
  EXPECT_FALSE((*letters)[0].id.empty());

  // The rest of the stream flows on.
  EXPECT_EQ(payloads(readOk("poison", "g", "a", 10)), (std::vector<std::string>{"good"}));
}

TEST_P(BusConformance, DeadLetterMovesOnePendingMessageWithItsReason) {
  ASSERT_TRUE(bus().createGroup("manual", "g", {}).ok());
  std::string id = appendOk("manual", "unparseable");
  ASSERT_EQ(readOk("manual", "g", "c", 1).size(), 1u);
  ASSERT_TRUE(bus().deadLetter("manual", "g", id, "cannot parse payload").ok());
  EXPECT_TRUE(bus().pending("manual", "g")->empty());

  auto letters = bus().deadLetters("manual", "g");
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ((*letters)[0].reason, "cannot parse payload");
  EXPECT_EQ((*letters)[0].originalId, id);
  EXPECT_EQ((*letters)[0].deliveries, 1u);

  // Only a pending message can be dead-lettered.
  EXPECT_EQ(bus().deadLetter("manual", "g", id, "again").code(), StatusCode::kNotFound);
  // Dead letters belong to their group.
  ASSERT_TRUE(bus().createGroup("manual", "other", {}).ok());
  EXPECT_TRUE(bus().deadLetters("manual", "other")->empty());
}

TEST_P(BusConformance, ReplayedDeadLettersAreAppendedAgain) {
  ASSERT_TRUE(bus().createGroup("redo", "g", {}).ok());
  std::string a = appendOk("redo", "a");
  std::string b = appendOk("redo", "b");
  ASSERT_EQ(readOk("redo", "g", "c", 10).size(), 2u);
  ASSERT_TRUE(bus().deadLetter("redo", "g", a, "x").ok());
  ASSERT_TRUE(bus().deadLetter("redo", "g", b, "y").ok());
  auto letters = bus().deadLetters("redo", "g");
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), 2u);

  // One by id, then the rest.
  auto one = bus().replayDeadLetters("redo", "g", {(*letters)[1].id});
  ASSERT_TRUE(one.ok()) << one.status().toString();
  EXPECT_EQ(*one, 1u);
  auto again = readOk("redo", "g", "c", 10);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].payload, "b");
  EXPECT_LT(bus::compareIds(b, again[0].id), 0) << "replayed as a new message";

  auto rest = bus().replayDeadLetters("redo", "g", {});
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(*rest, 1u);
  EXPECT_TRUE(bus().deadLetters("redo", "g")->empty());
  EXPECT_EQ(payloads(readOk("redo", "g", "c", 10)), (std::vector<std::string>{"a"}));
}

TEST_P(BusConformance, TrimNeverDropsAPendingMessage) {
  ASSERT_TRUE(bus().createGroup("trimmed", "g", {}).ok());
  std::vector<std::string> appended;
  for (int i = 0; i < 10; ++i) appended.push_back(appendOk("trimmed", "m" + std::to_string(i)));
  ASSERT_EQ(readOk("trimmed", "g", "c", 10).size(), 10u);
  // m2..m4 stay pending.
  std::vector<std::string> acked = {appended[0], appended[1]};
  for (int i = 5; i < 10; ++i) acked.push_back(appended[i]);
  ASSERT_TRUE(bus().ack("trimmed", "g", acked).ok());

  auto dropped = bus().trim("trimmed", 2);
  ASSERT_TRUE(dropped.ok()) << dropped.status().toString();
  EXPECT_EQ(*dropped, 2u) << "only m0 and m1 are older than the oldest pending message";
  auto pending = bus().pending("trimmed", "g");
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 3u);
  EXPECT_EQ((*pending)[0].id, appended[2]);
  // The pending messages can still be taken over with their payloads.
  auto claimed = bus().claimIdle("trimmed", "g", "d", std::chrono::milliseconds(0), 10);
  ASSERT_TRUE(claimed.ok()) << claimed.status().toString();
  EXPECT_EQ(payloads(*claimed), (std::vector<std::string>{"m2", "m3", "m4"}));

  ASSERT_TRUE(bus().ack("trimmed", "g", ids(*claimed)).ok());
  dropped = bus().trim("trimmed", 2);
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(*dropped, 6u);
  ASSERT_TRUE(bus().createGroup("trimmed", "late", {}).ok());
  EXPECT_EQ(payloads(readOk("trimmed", "late", "c", 100)), (std::vector<std::string>{"m8", "m9"}));
}

TEST_P(BusConformance, ReadingAGroupThatDoesNotExistIsNotFound) {
  appendOk("nogroup", "a");
  EXPECT_EQ(bus().read("nogroup", "missing", "c", 1, std::chrono::milliseconds(0)).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(bus().pending("nogroup", "missing").status().code(), StatusCode::kNotFound);
}

TEST_P(BusConformance, InvalidNamesAndIdsAreRejected) {
  using bus::GroupOptions;
  auto code = [](const Status& s) { return s.code(); };
  EXPECT_EQ(bus().publish("", "x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bus().publish("has space", "x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bus().publish("a..b", "x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bus().publish("wild.*", "x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bus().publish(std::string(10'000, 'a'), "x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bus().append("", "x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bus().append("bad/name", "x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(bus().createGroup("ok", "", {})), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(bus().createGroup("ok", "bad group", {})), StatusCode::kInvalidArgument);
  ASSERT_TRUE(bus().createGroup("ok", "g", {}).ok());
  EXPECT_EQ(bus().read("ok", "g", "", 1, std::chrono::milliseconds(0)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(bus().read("ok", "g", "c", 0, std::chrono::milliseconds(0)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code(bus().ack("ok", "g", {"nonsense"})), StatusCode::kInvalidArgument);
  EXPECT_EQ(code(bus().deadLetter("ok", "g", "1-x", "r")), StatusCode::kInvalidArgument);
  EXPECT_EQ(bus().replay("*", "x-1").status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(bus().ping().ok());
}

}  // namespace hive::testing
