// The redis transport through the real kernel and the real .so: the
// conformance suite, events across processes, and Redis restarted under load.
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "bus_host.hpp"
#include "hive/testing/bus_conformance.hpp"
#include "host/metrics.hpp"
#include "process.hpp"

namespace hive::communication_engine::test {
namespace {

constexpr std::size_t kHistory = 32;

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The value of a metric in the kernel's Prometheus exposition (-1 when absent).
double metricValue(host::PluginHost& host, const std::string& name) {
  std::istringstream text(host.metrics().exposition());
  std::string line;
  while (std::getline(text, line)) {
    if (line.rfind(name, 0) != 0 || (line[name.size()] != ' ' && line[name.size()] != '{')) continue;
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

std::shared_ptr<bus::Bus> redisBus() {
  std::string url = testRedisUrl();
  if (url.empty()) {
    ADD_FAILURE() << kNoRedis;
    return nullptr;
  }
  std::string error;
  std::string prefix = uniquePrefix();
  auto bus = hostedBus(redisSection(url, prefix, {}, {{"history", std::to_string(kHistory)}}), &error);
  if (!bus) {
    ADD_FAILURE() << error;
    return nullptr;
  }
  // Stops the kernel, then removes the test's keys from the shared server.
  bus::Bus* raw = bus.get();
  return std::shared_ptr<bus::Bus>(raw, [bus, url, prefix](bus::Bus*) mutable {
    bus.reset();
    deleteKeys(url, prefix);
  });
}

// A bus and its hive.bus_batch/1 on one kernel, with redisBus()'s clean-up.
std::pair<std::shared_ptr<bus::Bus>, std::shared_ptr<bus::BatchPublisher>> redisBusWithBatch() {
  std::string url = testRedisUrl();
  if (url.empty()) {
    ADD_FAILURE() << kNoRedis;
    return {};
  }
  std::string error;
  std::string prefix = uniquePrefix();
  auto [bus, batch] =
      hostedBusWithBatch(redisSection(url, prefix, {}, {{"history", std::to_string(kHistory)}}), &error);
  if (!bus) {
    ADD_FAILURE() << error;
    return {};
  }
  auto cleanUp = std::shared_ptr<void>(nullptr, [url, prefix](void*) { deleteKeys(url, prefix); });
  bus::Bus* rawBus = bus.get();
  bus::BatchPublisher* rawBatch = batch.get();
  // The keys go once both are released (and with them the kernel).
  auto owner = std::make_shared<std::pair<std::shared_ptr<void>, std::shared_ptr<bus::Bus>>>(cleanUp, bus);
  auto batchOwner = std::make_shared<std::pair<std::shared_ptr<void>, std::shared_ptr<bus::BatchPublisher>>>(
      cleanUp, batch);
  return {std::shared_ptr<bus::Bus>(owner, rawBus),
          std::shared_ptr<bus::BatchPublisher>(batchOwner, rawBatch)};
}

using hive::testing::BusConformance;
INSTANTIATE_TEST_SUITE_P(Redis, BusConformance,
                         ::testing::Values(hive::testing::BusProvider{
                             .name = "redis",
                             .make = [] { return redisBus(); },
                             .history = kHistory,
                             .makeWithBatch = [] { return redisBusWithBatch(); }}),
                         hive::testing::busProviderName);

TEST(RedisBusTest, AnEventPublishedInOneProcessReachesASubscriberInAnother) {
  std::string url = testRedisUrl();
  ASSERT_FALSE(url.empty()) << kNoRedis;
  std::string prefix = uniquePrefix();
  BusHost host(redisSection(url, prefix));
  ASSERT_NE(host.bus(), nullptr) << host.error();
  hive::testing::EventRecorder recorder;
  auto subscription = host.bus()->subscribe("cross.*", recorder.callback());
  ASSERT_TRUE(subscription);
  // The subscription is live once an event of our own comes back through Redis.
  ASSERT_TRUE(host.bus()->publish("cross.ready", "self").ok());
  ASSERT_TRUE(recorder.waitFor("cross.ready", "self"));

  ChildProcess publisher({HIVE_BUS_WORKER, "publish", url, prefix, "cross.child", "100"});
  auto code = publisher.wait(std::chrono::seconds(60));
  ASSERT_TRUE(code.has_value()) << "the publishing process did not finish";
  ASSERT_EQ(*code, 0);
  ASSERT_TRUE(recorder.waitFor("cross.child", "99"));
  std::vector<std::string> payloads;
  for (const auto& e : recorder.events())
    if (e.topic == "cross.child") payloads.push_back(e.payload);
  ASSERT_EQ(payloads.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(payloads[i], std::to_string(i)) << "in publish order";
  deleteKeys(url, prefix);
}

TEST(RedisBusTest, AnUnreachableServerBuffersThenRefusesAndNeverLogsThePassword) {
  int port = freePort();  // nothing listens there
  auto section = redisSection("redis://:hunter2@127.0.0.1:" + std::to_string(port), uniquePrefix(),
                              {{"buffer", "5"}, {"command_timeout", "200ms"}});
  ScratchDirectory logs("bus-logs");
  std::string logFile = (logs.path() / "hive.log").string();
  int logFd = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(logFd, 0);
  auto host = std::make_unique<BusHost>(std::move(section), logFd);
  ASSERT_NE(host->bus(), nullptr) << host->error() << " (the plugin starts while Redis is away)";
  bus::Bus& bus = *host->bus();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(bus.publish("away.t", std::to_string(i)).ok()) << i;
  auto refused = bus.publish("away.t", "6");
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted) << refused.status().toString();
  EXPECT_THAT(refused.status().message(), ::testing::Not(::testing::HasSubstr("hunter2")));
  EXPECT_EQ(bus.append("away", "x").status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(bus.ping().code(), StatusCode::kUnavailable);
  EXPECT_EQ(bus.pending("away", "g").status().code(), StatusCode::kUnavailable);
  host.reset();
  ::close(logFd);
  std::string text = readFile(logFile);
  EXPECT_THAT(text, ::testing::HasSubstr("redis://***@127.0.0.1:" + std::to_string(port)));
  EXPECT_THAT(text, ::testing::Not(::testing::HasSubstr("hunter2")));
}

// Redis killed (-9) mid-stream and restarted on the same data: publishers see
// kResourceExhausted only once the buffer is full, everything recovers, and no
// append that returned OK is lost.
TEST(RedisRestartTest, PublishersBufferWhileRedisIsAwayAndNoAcknowledgedAppendIsLost) {
  constexpr int kBuffer = 40;
  ThrowawayRedis redis;
  ASSERT_TRUE(redis.start()) << "redis-server did not start";
  BusHost host(redisSection(redis.url(), "restart:",
                            {{"buffer", std::to_string(kBuffer)},
                             {"command_timeout", "20s"},
                             {"publish_wait", "200ms"},
                             {"reconnect_initial", "20ms"},
                             {"reconnect_max", "200ms"}},
                            {{"history", "1000"}}));
  ASSERT_NE(host.bus(), nullptr) << host.error();
  bus::Bus& bus = *host.bus();
  ASSERT_TRUE(bus.createGroup("load", "checkers", {}).ok());

  // Appends under load, all along.
  std::mutex mutex;
  std::map<std::string, std::string> acknowledged;  // payload -> id
  std::atomic<int> refusedAppends{0};
  std::atomic<bool> stop{false};
  std::thread appender([&] {
    for (int i = 0; !stop; ++i) {
      std::string payload = "a" + std::to_string(i);
      auto id = bus.append("load", payload);
      if (id.ok()) {
        std::lock_guard lock(mutex);
        acknowledged[payload] = *id;
      } else {
        EXPECT_NE(id.status().code(), StatusCode::kInternal) << id.status().toString();
        ++refusedAppends;
      }
    }
  });
  auto countAcknowledged = [&] {
    std::lock_guard lock(mutex);
    return acknowledged.size();
  };
  auto waitForAppends = [&](std::size_t atLeast) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (countAcknowledged() < atLeast && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return countAcknowledged() >= atLeast;
  };
  ASSERT_TRUE(waitForAppends(200));
  auto before = bus.publish("restart.t", "before");
  ASSERT_TRUE(before.ok());

  redis.kill(SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the client notices
  std::size_t appendedBeforeOutage = countAcknowledged();

  // While Redis is away: publishes are buffered until the buffer is full, then refused.
  std::vector<std::string> accepted;
  int refused = 0;
  bool refusedThenAccepted = false;
  for (int i = 0; i < kBuffer + 20; ++i) {
    auto id = bus.publish("restart.t", "away-" + std::to_string(i));
    if (id.ok()) {
      refusedThenAccepted |= refused > 0;
      accepted.push_back("away-" + std::to_string(i));
    } else {
      EXPECT_EQ(id.status().code(), StatusCode::kResourceExhausted) << id.status().toString();
      ++refused;
    }
  }
  EXPECT_FALSE(refusedThenAccepted);
  // The appender holds at most one slot of the buffer with its waiting append.
  EXPECT_GE(accepted.size(), static_cast<std::size_t>(kBuffer - 1));
  EXPECT_LE(accepted.size(), static_cast<std::size_t>(kBuffer));
  EXPECT_GT(refused, 0);

  ASSERT_TRUE(redis.start()) << "redis-server did not restart";
  ASSERT_TRUE(waitForAppends(appendedBeforeOutage + 200)) << "appends did not resume after the restart";
  auto after = bus.publish("restart.t", "after");
  ASSERT_TRUE(after.ok()) << after.status().toString();
  stop = true;
  appender.join();

  // Every buffered publish reached Redis, in order, after "before".
  auto replayed = bus.replay("restart.*", *before, 1000);
  ASSERT_TRUE(replayed.ok()) << replayed.status().toString();
  std::vector<std::string> payloads;
  for (const auto& e : *replayed) payloads.push_back(e.payload);
  std::vector<std::string> expected = accepted;
  expected.push_back("after");
  EXPECT_EQ(payloads, expected);

  // Every append that returned OK is in the stream with the id it was given.
  std::set<std::pair<std::string, std::string>> found;  // (payload, id); a retried append may add a twin
  for (;;) {
    auto batch = bus.read("load", "checkers", "c", 1000, std::chrono::milliseconds(0));
    ASSERT_TRUE(batch.ok()) << batch.status().toString();
    if (batch->empty()) break;
    for (const auto& m : *batch) found.emplace(m.payload, m.id);
  }
  std::size_t missing = 0;
  for (const auto& [payload, id] : acknowledged) {
    if (found.count({payload, id}) == 0) ++missing;
  }
  EXPECT_EQ(missing, 0u) << "of " << acknowledged.size() << " acknowledged appends";
  EXPECT_GE(metricValue(host.host(), "hive_bus_reconnects_total"), 2) << "main and subscriber reconnected";
  EXPECT_GE(metricValue(host.host(), "hive_bus_rejected_total"), refused);
  EXPECT_EQ(metricValue(host.host(), "hive_bus_buffered"), 0) << "the buffer drained";
  std::cout << "[ figures  ] " << acknowledged.size() << " appends acknowledged (" << appendedBeforeOutage
            << " before the kill), " << refusedAppends.load() << " refused; " << accepted.size()
            << " publishes buffered while Redis was away, " << refused << " refused\n";
}

TEST(RedisBusTest, KeepsWorkingAfterTheServersScriptCacheIsFlushed) {
  ThrowawayRedis redis;
  ASSERT_TRUE(redis.start()) << "redis-server did not start";
  BusHost host(redisSection(redis.url(), "flush:"));
  ASSERT_NE(host.bus(), nullptr) << host.error();
  bus::Bus& bus = *host.bus();
  ASSERT_TRUE(bus.publish("flush.t", "before").ok());

  timeval timeout{5, 0};
  redisContext* context = redisConnectWithTimeout("127.0.0.1", redis.port(), timeout);
  ASSERT_TRUE(context != nullptr && context->err == 0);
  freeReplyObject(redisCommand(context, "SCRIPT FLUSH"));
  redisFree(context);

  auto id = bus.publish("flush.t", "after");
  ASSERT_TRUE(id.ok()) << id.status().toString();
  ASSERT_TRUE(bus.createGroup("flushed", "g", {}).ok());
  ASSERT_TRUE(bus.append("flushed", "m").ok());
  auto trimmed = bus.trim("flushed", 0);
  ASSERT_TRUE(trimmed.ok()) << trimmed.status().toString();
  EXPECT_EQ(*trimmed, 0u) << "the message was never delivered to g";
  auto replayed = bus.replay("flush.*", "0");
  ASSERT_TRUE(replayed.ok()) << replayed.status().toString();
  ASSERT_EQ(replayed->size(), 2u);
  EXPECT_EQ(replayed->back().id, *id);
}

}  // namespace
}  // namespace hive::communication_engine::test
