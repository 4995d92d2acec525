// The local transport: the conformance suite on the real .so loaded by the SDK
// harness, config validation, and what only the local transport promises.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config.hpp"
#include "hive/testing/bus_conformance.hpp"
#include "hive/testing/harness.hpp"

namespace hive::communication_engine {
namespace {

using ::testing::HasSubstr;

constexpr std::size_t kHistory = 32;

// A loaded, started plugin; the bus (and its hive.bus_batch/1) pin the harness
// (and so the library).
std::pair<std::shared_ptr<bus::Bus>, std::shared_ptr<bus::BatchPublisher>> localBusWithBatch(
    std::vector<std::pair<std::string, std::string>> pairs = {}) {
  auto loaded = hive::testing::PluginHarness::loadLibrary(HIVE_BUS_PLUGIN);
  if (!loaded.ok()) {
    ADD_FAILURE() << loaded.status().toString();
    return {};
  }
  std::shared_ptr<hive::testing::PluginHarness> harness(std::move(loaded).value());
  ConfigNode section = ConfigNode::map();
  section.set("transport", ConfigNode::scalar("local"));
  section.set("history", ConfigNode::scalar(std::to_string(kHistory)));
  for (auto& [k, v] : pairs) section.set(k, ConfigNode::scalar(v));
  harness->setConfig(section);
  Status started = harness->start();
  if (!started.ok()) {
    ADD_FAILURE() << started.toString();
    return {};
  }
  auto bus = harness->services().get<bus::Bus>();
  auto batch = harness->services().get<bus::BatchPublisher>();
  if (!bus.ok() || !batch.ok()) {
    ADD_FAILURE() << (bus.ok() ? batch.status() : bus.status()).toString();
    return {};
  }
  // The references go first, then the plugin stops and the harness goes.
  struct Held {
    std::shared_ptr<hive::testing::PluginHarness> harness;
    ServiceRef<bus::Bus> bus;
    ServiceRef<bus::BatchPublisher> batch;
    ~Held() {
      batch = {};
      bus = {};
      if (harness) harness->stop();
    }
  };
  auto held = std::make_shared<Held>();
  held->harness = harness;
  held->bus = std::move(*bus);
  held->batch = std::move(*batch);
  return {std::shared_ptr<bus::Bus>(held, &*held->bus),
          std::shared_ptr<bus::BatchPublisher>(held, &*held->batch)};
}

std::shared_ptr<bus::Bus> localBus(std::vector<std::pair<std::string, std::string>> pairs = {}) {
  return localBusWithBatch(std::move(pairs)).first;
}

using hive::testing::BusConformance;
INSTANTIATE_TEST_SUITE_P(Local, BusConformance,
                         ::testing::Values(hive::testing::BusProvider{
                             .name = "local",
                             .make = [] { return localBus(); },
                             .history = kHistory,
                             .makeWithBatch = [] { return localBusWithBatch(); }}),
                         hive::testing::busProviderName);

ConfigNode at(std::string text, int line, int column) {
  return ConfigNode::scalar(std::move(text), {"hive.yaml", line, column});
}

TEST(BusConfigTest, DefaultsToTheLocalTransport) {
  Diagnostics diagnostics;
  BusConfig config = readBusConfig(ConfigNode::map(), diagnostics);
  EXPECT_FALSE(diagnostics.hasErrors()) << diagnostics.toString();
  EXPECT_EQ(config.transport, Transport::kLocal);
  EXPECT_EQ(config.history, 10'000u);
}

TEST(BusConfigTest, ReportsEveryBadValueWithItsLocation) {
  ConfigNode section = ConfigNode::map({"hive.yaml", 10, 3});
  section.set("transport", at("kafka", 11, 16));
  section.set("history", at("0", 12, 14));
  section.set("histroy", at("5", 13, 5), {"hive.yaml", 13, 5});
  ConfigNode redis = ConfigNode::map({"hive.yaml", 14, 5});
  redis.set("url", at("http://h:1", 15, 12));
  redis.set("reconnect_initial", at("soon", 16, 26));
  section.set("redis", redis);
  Diagnostics diagnostics;
  readBusConfig(section, diagnostics);
  std::string text = diagnostics.toString();
  EXPECT_EQ(diagnostics.errorCount(), 5u) << text;
  EXPECT_THAT(text, HasSubstr("hive.yaml:11:16: error: 'transport': expected local or redis, got 'kafka'"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:12:14: error: 'history': must be between 1 and"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:13:5: error: unknown key 'histroy' (did you mean 'history'?)"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:15:12: error: 'url': redis url must start with redis://"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:16:26: error: 'reconnect_initial': expected a duration"));
}

TEST(BusConfigTest, RedisNeedsAUrlAndNeverEchoesThePassword) {
  ConfigNode section = ConfigNode::map({"hive.yaml", 1, 1});
  section.set("transport", at("redis", 2, 14));
  Diagnostics missing;
  readBusConfig(section, missing);
  EXPECT_THAT(missing.toString(), HasSubstr("transport redis needs a redis: section"));

  ConfigNode redis = ConfigNode::map({"hive.yaml", 3, 3});
  redis.set("url", at("redis://user:s3cret@db.internal:99999/2", 4, 10));
  section.set("redis", redis);
  Diagnostics bad;
  readBusConfig(section, bad);
  EXPECT_THAT(bad.toString(), HasSubstr("hive.yaml:4:10: error: 'url': redis url: port '99999'"));
  EXPECT_THAT(bad.toString(), ::testing::Not(HasSubstr("s3cret")));
}

TEST(BusConfigTest, ParsesRedisUrls) {
  auto full = parseRedisUrl("redis://:pw@10.0.0.5:6380/3");
  ASSERT_TRUE(full.ok()) << full.status().toString();
  EXPECT_EQ(full->host, "10.0.0.5");
  EXPECT_EQ(full->port, 6380);
  EXPECT_EQ(full->password, "pw");
  EXPECT_EQ(full->database, 3);
  EXPECT_EQ(full->redacted(), "redis://***@10.0.0.5:6380/3");
  auto plain = parseRedisUrl("redis://localhost");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->port, 6379);
  EXPECT_EQ(plain->redacted(), "redis://localhost:6379/0");
  EXPECT_FALSE(parseRedisUrl("redis://").ok());
  EXPECT_FALSE(parseRedisUrl("redis://h:0").ok());
  EXPECT_FALSE(parseRedisUrl("redis://h/x").ok());
}

TEST(LocalBusTest, AFullDispatchQueueRefusesPublishesInsteadOfDroppingThem) {
  auto bus = localBus({{"dispatch_queue", "4"}});
  ASSERT_NE(bus, nullptr);
  std::mutex gate;
  std::unique_lock hold(gate);  // the subscriber blocks until released
  std::atomic<int> delivered{0};
  auto subscription = bus->subscribe("slow.*", [&](const bus::Event&) {
    std::lock_guard wait(gate);
    ++delivered;
  });
  int accepted = 0, refused = 0;
  for (int i = 0; i < 20; ++i) {
    auto id = bus->publish("slow.t", std::to_string(i));
    if (id.ok()) {
      ++accepted;
    } else {
      EXPECT_EQ(id.status().code(), StatusCode::kResourceExhausted) << id.status().toString();
      ++refused;
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_LE(accepted, 5) << "4 queued plus at most one being delivered";
  hold.unlock();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (delivered < accepted && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(delivered.load(), accepted) << "every accepted event is delivered";
}

TEST(LocalBusTest, AStreamIsBoundedByMaxStreamLength) {
  auto bus = localBus({{"max_stream_length", "3"}});
  ASSERT_NE(bus, nullptr);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(bus->append("bounded", "m").ok());
  EXPECT_EQ(bus->append("bounded", "m").status().code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(bus->trim("bounded", 1).ok());
  EXPECT_TRUE(bus->append("bounded", "m").ok());
}

TEST(LocalBusTest, OversizedPayloadsAreRejected) {
  auto bus = localBus({{"max_payload", "8"}});
  ASSERT_NE(bus, nullptr);
  EXPECT_EQ(bus->publish("t", "123456789").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bus->append("s", "123456789").status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(bus->publish("t", "12345678").ok());
}

TEST(LocalBusTest, ASubscriptionMayDestroyItselfFromItsCallback) {
  auto bus = localBus();
  ASSERT_NE(bus, nullptr);
  std::unique_ptr<Subscription> subscription;
  std::atomic<int> calls{0};
  std::mutex mutex;
  std::unique_lock setup(mutex);
  subscription = bus->subscribe("self.*", [&](const bus::Event&) {
    std::lock_guard lock(mutex);
    ++calls;
    subscription.reset();
  });
  setup.unlock();
  ASSERT_TRUE(bus->publish("self.a", "1").ok());
  ASSERT_TRUE(bus->publish("self.a", "2").ok());
  hive::testing::EventRecorder after;
  auto witness = bus->subscribe("self.*", after.callback());
  ASSERT_TRUE(bus->publish("self.a", "3").ok());
  ASSERT_TRUE(after.waitFor("self.a", "3"));
  EXPECT_EQ(calls.load(), 1);
}

}  // namespace
}  // namespace hive::communication_engine
