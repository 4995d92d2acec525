// The WebSocket side of the api plugin over real sockets: the hive.v1 event hub
// (subscribe, events from hive.bus/1 with ids, resume with `since`, ping),
// provider WebSocket routes, and the limits (1009, 1007, 1008, Origin).
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api_host.hpp"
#include "hive/services/bus.hpp"
#include "ws_client.hpp"

namespace hive::api_test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::shared_ptr<bus::Bus> busOf(ApiHost& api) {
  auto leases = api.host().services().lookup(host::ServiceKey{"hive.bus", 1});
  if (leases.empty()) return nullptr;
  return std::static_pointer_cast<bus::Bus>(leases.front().service);
}

std::string field(const std::string& json, const std::string& name) {
  std::string key = "\"" + name + "\":\"";
  auto start = json.find(key);
  if (start == std::string::npos) return {};
  start += key.size();
  return json.substr(start, json.find('"', start) - start);
}

HostOptions withBus() {
  HostOptions options;
  options.bus = true;
  return options;
}

TEST(ApiWebSocket, SubscribeReceivesEventsWithIdsAndAnswersPing) {
  ApiHost api(withBus());
  ASSERT_TRUE(api.start()) << api.problem();
  auto bus = busOf(api);
  ASSERT_NE(bus, nullptr);

  WsClient client;
  ASSERT_EQ(client.connect(api.port(), "/api/v2/ws"), 101);
  EXPECT_EQ(client.response()[boost::beast::http::field::sec_websocket_protocol], "hive.v1");
  ASSERT_TRUE(client.send(R"({"type":"subscribe","id":"s1","topic":"tasks.*"})"));
  auto subscribed = client.read();
  ASSERT_TRUE(subscribed);
  EXPECT_THAT(*subscribed, StartsWith(R"({"type":"subscribed","id":"s1","ts":)"));
  EXPECT_THAT(*subscribed, HasSubstr(R"("topic":"tasks.*")"));

  auto other = bus->publish("agents.1", R"({"skip":true})");
  auto published = bus->publish("tasks.42", R"({"state":"done"})");
  ASSERT_TRUE(published.ok());
  auto event = client.read();
  ASSERT_TRUE(event);
  EXPECT_THAT(*event, StartsWith(R"({"type":"event","id":")" + *published + "\""));
  EXPECT_THAT(*event, HasSubstr(R"("topic":"tasks.42","payload":{"state":"done"}})"));

  ASSERT_TRUE(client.send(R"({"type":"ping","id":"p1"})"));
  auto pong = client.read();
  ASSERT_TRUE(pong);
  EXPECT_THAT(*pong, StartsWith(R"({"type":"pong","id":"p1")"));

  ASSERT_TRUE(client.send(R"({"type":"unsubscribe","id":"u1","topic":"tasks.*"})"));
  auto unsubscribed = client.read();
  ASSERT_TRUE(unsubscribed);
  EXPECT_THAT(*unsubscribed, StartsWith(R"({"type":"unsubscribed","id":"u1")"));

  ASSERT_TRUE(client.send(R"({"type":"dance"})"));
  auto unknown = client.read();
  ASSERT_TRUE(unknown);
  EXPECT_THAT(*unknown, HasSubstr(R"("code":"unknown_type")"));
  ASSERT_TRUE(client.send("not json"));
  auto malformed = client.read();
  ASSERT_TRUE(malformed);
  EXPECT_THAT(*malformed, HasSubstr(R"("code":"bad_request")"));
  client.close();
}

// The hub follows hive.bus/1 across swaps of its provider (a
// hive::ServiceFollower): the test provider's bus keeps its subscribers per
// generation, so without the follow a client would hear nothing after a swap.
TEST(ApiWebSocket, ClientsKeepReceivingEventsAcrossSwapsOfTheBusProvider) {
  ApiHost api(withBus());
  ASSERT_TRUE(api.start()) << api.problem();
  WsClient client;
  ASSERT_EQ(client.connect(api.port(), "/api/v2/ws"), 101);
  ASSERT_TRUE(client.send(R"({"type":"subscribe","id":"s1","topic":"swap.*"})"));
  ASSERT_TRUE(client.read());

  for (int swap = 1; swap <= 5; ++swap) {
    const char* file = swap % 2 == 1 ? "api_test_routes_v2-1.1.0.so" : "api_test_routes-1.0.0.so";
    Status swapped = api.swap("api_test_routes", kTestPlugins / file);
    ASSERT_TRUE(swapped.ok()) << swapped.toString() << "\n" << api.log();
    auto bus = busOf(api);
    ASSERT_NE(bus, nullptr);
    auto published = bus->publish("swap.n", std::to_string(swap));
    ASSERT_TRUE(published.ok()) << published.status().toString();
    auto event = client.read();
    ASSERT_TRUE(event) << "no event after swap " << swap;
    EXPECT_THAT(*event, HasSubstr(R"("id":")" + *published + "\""));
    EXPECT_THAT(*event, HasSubstr(R"("payload":)" + std::to_string(swap) + "}"));
  }
  client.close();
}

TEST(ApiWebSocket, ResumingWithSinceLosesNoEventAndRepeatsNone) {
  ApiHost api(withBus());
  ASSERT_TRUE(api.start()) << api.problem();
  auto bus = busOf(api);
  ASSERT_NE(bus, nullptr);

  std::string lastSeen;
  {
    WsClient client;
    ASSERT_EQ(client.connect(api.port(), "/api/v2/ws"), 101);
    ASSERT_TRUE(client.send(R"({"type":"subscribe","id":"s","topic":"jobs.*"})"));
    ASSERT_TRUE(client.read());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(bus->publish("jobs.a", std::to_string(i)).ok());
    for (int i = 0; i < 3; ++i) {
      auto event = client.read();
      ASSERT_TRUE(event);
      lastSeen = field(*event, "id");
    }
    client.close();
  }
  std::vector<std::string> missed;
  for (int i = 3; i < 6; ++i) missed.push_back(*bus->publish("jobs.a", std::to_string(i)));

  WsClient client;
  ASSERT_EQ(client.connect(api.port(), "/api/v2/ws"), 101);
  ASSERT_TRUE(client.send(R"({"type":"subscribe","id":"r","topic":"jobs.*","payload":{"since":")" + lastSeen +
                          R"("}})"));
  auto ack = client.read();
  ASSERT_TRUE(ack);
  EXPECT_THAT(*ack, HasSubstr("\"subscribed\""));
  std::string live = *bus->publish("jobs.a", "6");
  std::vector<std::string> received;
  for (int i = 0; i < 4; ++i) {
    auto event = client.read();
    ASSERT_TRUE(event) << "after " << received.size() << " events";
    received.push_back(field(*event, "id"));
  }
  missed.push_back(live);
  EXPECT_EQ(received, missed);
  ASSERT_TRUE(client.send(R"({"type":"ping"})"));
  auto next = client.read();
  ASSERT_TRUE(next);
  EXPECT_THAT(*next, HasSubstr("\"pong\"")) << "no duplicate after the live event";
}

// A client far behind (many more events to replay than its send queue holds)
// is paged through the history at its own pace, with live events arriving all
// along, instead of being closed as a slow consumer.
TEST(ApiWebSocket, ResumingFarBehindIsPagedThroughTheSendQueue) {
  HostOptions options = withBus();
  options.api = {
      {"websocket", mapOf({{"send_queue", scalar("8")}, {"messages_per_second", scalar("1000")}})}};
  ApiHost api(options);
  ASSERT_TRUE(api.start()) << api.problem();
  auto bus = busOf(api);
  ASSERT_NE(bus, nullptr);

  std::vector<std::string> published;
  for (int i = 0; i < 1000; ++i) published.push_back(*bus->publish("jobs.a", std::to_string(i)));
  WsClient client;
  ASSERT_EQ(client.connect(api.port(), "/api/v2/ws"), 101);
  ASSERT_TRUE(client.send(R"({"type":"subscribe","id":"r","topic":"jobs.*","payload":{"since":")" +
                          published.front() + R"("}})"));
  std::mutex mutex;
  std::thread live([&] {
    for (int i = 0; i < 300; ++i) {
      auto id = bus->publish("jobs.a", "live");
      std::lock_guard lock(mutex);
      published.push_back(*id);
    }
  });
  std::vector<std::string> received;
  bool acknowledged = false;
  while (received.size() < 1299) {
    auto message = client.read();
    if (!message) break;
    if (message->find("\"subscribed\"") != std::string::npos) {
      acknowledged = true;
      continue;
    }
    ASSERT_THAT(*message, StartsWith(R"({"type":"event")"));
    received.push_back(field(*message, "id"));
  }
  live.join();
  EXPECT_TRUE(acknowledged);
  EXPECT_FALSE(client.closed()) << "closed with " << client.closeCode();
  std::vector<std::string> expected(published.begin() + 1, published.end());
  EXPECT_EQ(received.size(), expected.size());
  EXPECT_TRUE(received == expected) << "events lost, repeated or out of order";
  client.close();
}

// A client that stops reading is disconnected once its send queue is full;
// the server never buffers more than that for it.
TEST(ApiWebSocket, AClientThatStopsReadingIsDisconnectedAtItsSendQueue) {
  HostOptions options = withBus();
  options.api = {{"websocket", mapOf({{"send_queue", scalar("16")}})}};
  ApiHost api(options);
  ASSERT_TRUE(api.start()) << api.problem();
  auto bus = busOf(api);
  ASSERT_NE(bus, nullptr);

  WsClient client;
  ASSERT_EQ(client.connect(api.port(), "/api/v2/ws"), 101);
  ASSERT_TRUE(client.send(R"({"type":"subscribe","id":"s","topic":"big"})"));
  ASSERT_TRUE(client.read());
  // 2,000 events of 32 KiB: far more than the socket buffers and 16 queued messages.
  std::string payload = "\"" + std::string(32 * 1024, 'x') + "\"";
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(bus->publish("big", payload).ok());
  // The client reads nothing until the server gave up on it: publishing is
  // asynchronous, and a client reading while a slow (sanitized) server still
  // forwards could keep up and never fill the queue.
  EXPECT_TRUE(eventually([&] { return api.log().find("slow consumer") != std::string::npos; },
                         std::chrono::seconds(60)));
  int received = 0;
  while (client.read(std::chrono::seconds(10))) ++received;
  EXPECT_TRUE(client.closed()) << "the read ended by a timeout, not by the server closing";
  EXPECT_LT(received, 2000) << "every event was delivered: the queue was never full";
}

TEST(ApiWebSocket, HandshakeNeedsTheSubprotocolAndAnAllowedOrigin) {
  HostOptions options = withBus();
  options.api = {{"cors", mapOf({{"allow_origins", listOf({"https://app.example.com"})}})}};
  ApiHost api(options);
  ASSERT_TRUE(api.start()) << api.problem();

  WsClient noProtocol;
  EXPECT_EQ(noProtocol.connect(api.port(), "/api/v2/ws", {.protocol = "", .origin = ""}), 400);
  WsClient foreign;
  EXPECT_EQ(foreign.connect(api.port(), "/api/v2/ws",
                            {.protocol = "hive.v1", .origin = "https://evil.example.com"}),
            403);
  WsClient allowed;
  EXPECT_EQ(
      allowed.connect(api.port(), "/api/v2/ws", {.protocol = "hive.v1", .origin = "https://app.example.com"}),
      101);
  WsClient nowhere;
  EXPECT_EQ(nowhere.connect(api.port(), "/api/v2/nothing"), 404);
}

TEST(ApiWebSocket, ProviderRoutesGetMessagesAndCanRefuse) {
  ApiHost api;
  ASSERT_TRUE(api.start()) << api.problem();
  WsClient client;
  ASSERT_EQ(client.connect(api.port(), "/test/ws/echo", {.protocol = "test.echo", .origin = ""}), 101);
  ASSERT_TRUE(client.send("hello"));
  auto echoed = client.read();
  ASSERT_TRUE(echoed);
  EXPECT_EQ(*echoed, "echo:hello");
  ASSERT_TRUE(client.send("close-me"));
  EXPECT_EQ(client.awaitClose(), 4000);

  WsClient refused;
  EXPECT_EQ(refused.connect(api.port(), "/test/ws/echo?refuse=1", {.protocol = "test.echo", .origin = ""}),
            403);
  WsClient wrongProtocol;
  EXPECT_EQ(wrongProtocol.connect(api.port(), "/test/ws/echo", {.protocol = "hive.v1", .origin = ""}), 400);
}

// A client that never answers our close frame (nor closes its socket) is
// dropped at the api's close deadline (3 s), not left to Beast's 10 s handshake
// timeout or forever: the provider's session and its lease on the provider's
// generation end with it, and a swap of the provider waits for them.
TEST(ApiWebSocket, APeerThatNeverAnswersTheCloseIsDroppedAtTheCloseDeadline) {
  ApiHost api;
  ASSERT_TRUE(api.start()) << api.problem();
  WsClient client;
  ASSERT_EQ(client.connect(api.port(), "/test/ws/echo", {.protocol = "test.echo", .origin = ""}), 101);
  ASSERT_TRUE(client.send("close-me"));
  auto dropped = client.awaitDroppedWithoutAnswering(std::chrono::seconds(8));
  ASSERT_TRUE(dropped) << "the connection was still open after 8 s";
  EXPECT_GE(dropped->count(), 2500) << "dropped before the peer had time to answer";
}

// A route provider's WebSockets do not hold its swap back: told by the
// kernel's hive.swaps/1 that the provider is about to be swapped, the api
// closes them with 1012 "service restart" and returns their leases, the swap
// goes on at once (without it, it failed at the 10 s drain deadline), and the
// clients reconnect to the new generation.
TEST(ApiWebSocket, AProvidersSwapClosesItsWebSocketsWith1012AndDoesNotWaitForThem) {
  ApiHost api;
  ASSERT_TRUE(api.start()) << api.problem();
  constexpr int kClients = 20;
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    auto client = std::make_unique<WsClient>();
    ASSERT_EQ(client->connect(api.port(), "/test/ws/echo", {.protocol = "test.echo", .origin = ""}), 101);
    ASSERT_TRUE(client->send("build"));
    auto build = client->read();
    ASSERT_TRUE(build);
    EXPECT_EQ(*build, "build:v1");
    clients.push_back(std::move(client));
  }
  std::vector<int> codes(kClients, 0);
  std::vector<std::thread> readers;
  for (int i = 0; i < kClients; ++i)
    readers.emplace_back([&, i] { codes[i] = clients[i]->awaitClose(std::chrono::seconds(20)); });

  auto began = std::chrono::steady_clock::now();
  Status swapped = api.swap("api_test_routes", kTestPlugins / "api_test_routes_v2-1.1.0.so");
  auto took = std::chrono::steady_clock::now() - began;
  for (auto& reader : readers) reader.join();
  ASSERT_TRUE(swapped.ok()) << swapped.toString() << "\n" << api.log();
  EXPECT_LT(took, std::chrono::seconds(5)) << "the swap waited for the sockets";
  EXPECT_THAT(codes, ::testing::Each(1012));

  WsClient again;
  ASSERT_EQ(again.connect(api.port(), "/test/ws/echo", {.protocol = "test.echo", .origin = ""}), 101);
  ASSERT_TRUE(again.send("build"));
  auto build = again.read();
  ASSERT_TRUE(build);
  EXPECT_EQ(*build, "build:v2");
  again.close();
  EXPECT_THAT(api.log(), Not(HasSubstr("still held after the drain deadline")));
}

// A malformed `since` was passed to the bus and answered `replay_failed`, as if
// the history had failed; it is the client's error, named, and subscribes nothing.
TEST(ApiWebSocket, AMalformedSinceIsRefusedAndNamed) {
  ApiHost api(withBus());
  ASSERT_TRUE(api.start()) << api.problem();
  auto bus = busOf(api);
  ASSERT_NE(bus, nullptr);
  WsClient client;
  ASSERT_EQ(client.connect(api.port(), "/api/v2/ws"), 101);
  for (const std::string since : {R"("yesterday")", R"("12-")", R"("-3")", R"("1-2-3")",
                                  R"("99999999999999999999999")", "42", "null"}) {
    ASSERT_TRUE(
        client.send(R"({"type":"subscribe","id":"s","topic":"jobs.*","payload":{"since":)" + since + "}}"));
    auto answer = client.read();
    ASSERT_TRUE(answer) << since;
    EXPECT_THAT(*answer, HasSubstr(R"("type":"error")")) << since;
    EXPECT_THAT(*answer, HasSubstr(R"("code":"bad_since")")) << since;
    EXPECT_THAT(*answer, HasSubstr("payload.since")) << since;
  }
  // Nothing was subscribed: an event on the topic does not arrive.
  ASSERT_TRUE(bus->publish("jobs.a", "1").ok());
  ASSERT_TRUE(client.send(R"({"type":"ping","id":"p"})"));
  auto next = client.read();
  ASSERT_TRUE(next);
  EXPECT_THAT(*next, StartsWith(R"({"type":"pong","id":"p")"));
  // A well-formed id still resumes.
  ASSERT_TRUE(client.send(R"({"type":"subscribe","id":"ok","topic":"jobs.*","payload":{"since":"0"}})"));
  std::vector<std::string> answers;
  for (int i = 0; i < 2; ++i) {
    auto answer = client.read();
    ASSERT_TRUE(answer);
    answers.push_back(*answer);
  }
  EXPECT_THAT(answers, ::testing::Contains(HasSubstr(R"("type":"subscribed","id":"ok")")));
  EXPECT_THAT(answers, ::testing::Contains(HasSubstr(R"("type":"event")")));
}

// Remote agents (a provider's WebSocket route) have their own message rate,
// not the 50 per second meant for browser clients of the hub.
TEST(ApiWebSocket, ProviderRoutesHaveTheirOwnMessageRate) {
  HostOptions options;
  options.api = {{"websocket", mapOf({{"messages_per_second", scalar("20")}})}};
  {
    ApiHost api(options);
    ASSERT_TRUE(api.start()) << api.problem();
    WsClient agent;
    ASSERT_EQ(agent.connect(api.port(), "/test/ws/echo", {.protocol = "test.echo", .origin = ""}), 101);
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(agent.send("m" + std::to_string(i)));
    for (int i = 0; i < 200; ++i) {
      auto echoed = agent.read();
      ASSERT_TRUE(echoed) << "message " << i << " of 200 (default route rate 1000/s)";
      EXPECT_EQ(*echoed, "echo:m" + std::to_string(i));
    }
  }
  options.api = {{"websocket", mapOf({{"route_messages_per_second", scalar("20")}})}};
  ApiHost api(options);
  ASSERT_TRUE(api.start()) << api.problem();
  WsClient agent;
  ASSERT_EQ(agent.connect(api.port(), "/test/ws/echo", {.protocol = "test.echo", .origin = ""}), 101);
  for (int i = 0; i < 200 && agent.send("m"); ++i) {
  }
  EXPECT_EQ(agent.awaitClose(), 1008) << "the route's own rate, when configured lower, applies";
}

// Issue 12: a provider route's client (a remote agent) that stops reading was
// closed as a slow consumer. Now the provider's send is refused at the route's
// own send queue, the connection stays open, and every message that was
// queued arrives, in order, once the client reads again.
TEST(ApiWebSocket, AProviderRouteClientThatStopsReadingIsBackPressuredNotClosed) {
  HostOptions options;
  options.api = {{"websocket", mapOf({{"route_send_queue", scalar("16")}})}};
  ApiHost api(options);
  ASSERT_TRUE(api.start()) << api.problem();
  WsClient agent;
  ASSERT_EQ(agent.connect(api.port(), "/test/ws/echo", {.protocol = "test.echo", .origin = ""}), 101);
  // 2,000 messages of 32 KiB: far more than the socket buffers and 16 queued ones.
  ASSERT_TRUE(agent.send("flood:2000:32768"));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // not reading meanwhile
  ASSERT_TRUE(agent.send("flood-report"));
  int next = 0;
  std::string report;
  while (auto message = agent.read(std::chrono::seconds(10))) {
    if (message->rfind("sent:", 0) == 0) {
      report = *message;
      break;
    }
    ASSERT_EQ(message->substr(0, message->find(':')), "f" + std::to_string(next)) << "lost or reordered";
    ++next;
  }
  EXPECT_FALSE(agent.closed()) << "closed with " << agent.closeCode();
  ASSERT_FALSE(report.empty()) << "the report never came";
  EXPECT_EQ(report.substr(0, report.find(' ')), "sent:" + std::to_string(next)) << report;
  EXPECT_LT(next, 2000) << "the queue never filled";
  EXPECT_THAT(report, HasSubstr("send queue full (16 messages, websocket.route_send_queue)"));
  EXPECT_EQ(api.log().find("slow consumer"), std::string::npos);
  ASSERT_TRUE(agent.send("still-here"));
  EXPECT_EQ(agent.read(), std::optional<std::string>("echo:still-here"));
}

TEST(ApiWebSocket, LimitsCloseWithTheRightCodes) {
  HostOptions options = withBus();
  options.api = {{"websocket", mapOf({{"message_bytes", scalar("1024")},
                                      {"messages_per_second", scalar("20")},
                                      {"max_subscriptions", scalar("2")}})}};
  ApiHost api(options);
  ASSERT_TRUE(api.start()) << api.problem();
  std::size_t fdsBefore = openFds();

  {
    WsClient big;
    ASSERT_EQ(big.connect(api.port(), "/api/v2/ws"), 101);
    ASSERT_TRUE(big.send(std::string(4096, 'x')));
    EXPECT_EQ(big.awaitClose(), 1009);
  }
  {
    WsClient invalid;
    ASSERT_EQ(invalid.connect(api.port(), "/api/v2/ws"), 101);
    ASSERT_TRUE(invalid.send("{\"type\":\"ping\",\"id\":\"\xff\xfe\"}"));
    EXPECT_EQ(invalid.awaitClose(), 1007);
  }
  {
    WsClient flood;
    ASSERT_EQ(flood.connect(api.port(), "/api/v2/ws"), 101);
    for (int i = 0; i < 200 && flood.send(R"({"type":"ping"})"); ++i) {
    }
    EXPECT_EQ(flood.awaitClose(), 1008);
  }
  {
    WsClient pings;
    ASSERT_EQ(pings.connect(api.port(), "/api/v2/ws"), 101);
    for (int i = 0; i < 200 && pings.ping(); ++i) {
    }
    EXPECT_EQ(pings.awaitClose(), 1008) << "a ping flood counts against the rate limit";
  }
  {
    WsClient many;
    ASSERT_EQ(many.connect(api.port(), "/api/v2/ws"), 101);
    for (const char* topic : {"a", "b", "c"})
      ASSERT_TRUE(many.send(std::string(R"({"type":"subscribe","topic":")") + topic + "\"}"));
    EXPECT_THAT(*many.read(), HasSubstr("subscribed"));
    EXPECT_THAT(*many.read(), HasSubstr("subscribed"));
    EXPECT_THAT(*many.read(), HasSubstr("too_many_subscriptions"));
  }
  EXPECT_TRUE(eventually([&] { return openFds() <= fdsBefore; })) << openFds() << " > " << fdsBefore;
  EXPECT_EQ(request(api.port(), "GET", "/livez").status, 200);
}

}  // namespace
}  // namespace hive::api_test
