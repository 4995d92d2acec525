// The in-memory providers of Hive::sdk_testing: MemoryBus passes the bus
// conformance suite (what holds for it holds for communication_engine), and
// with RouteClient a consumer plugin (notes_plugin.hpp) is unit-tested end to
// end — routes, publishing, a followed subscription across a played swap —
// with no hand-written fake.
#include <atomic>
#include <memory>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hive/testing/bus_conformance.hpp"
#include "hive/testing/harness.hpp"
#include "hive/testing/memory_bus.hpp"
#include "hive/testing/routes.hpp"
#include "notes_plugin.hpp"

namespace hive::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

INSTANTIATE_TEST_SUITE_P(
    Memory, BusConformance,
    ::testing::Values(BusProvider{
        .name = "memory",
        .make = [] { return std::make_shared<MemoryBus>(MemoryBus::Options{.history = 32}); },
        .history = 32}),
    busProviderName);

TEST(MemoryBus, DrainWaitsUntilEverySubscriberGotWhatWasPublished) {
  MemoryBus bus;
  std::atomic<int> got{0};
  auto subscription = bus.subscribe("jobs.*", [&](const bus::Event&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a slow subscriber
    ++got;
  });
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(bus.publish("jobs.a", std::to_string(i)).ok());
  ASSERT_TRUE(bus.drain());
  EXPECT_EQ(got.load(), 20);
}

// A consumer that skips ids it has seen (the api's WebSocket hub does) must
// keep receiving after a swap to a new bus.
TEST(MemoryBus, IdsKeepIncreasingAcrossBusesAndPublishedFiltersByPattern) {
  MemoryBus bus;
  std::string first = *bus.publish("a.one", "1");
  EXPECT_LT(bus::compareIds(first, *bus.append("stream", "x")), 0);
  ASSERT_TRUE(bus.publish("b.two", "2").ok());
  MemoryBus next;
  EXPECT_LT(bus::compareIds(bus.published().back().id, *next.publish("a.one", "3")), 0);
  auto events = bus.published("a.*");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].payload, "1");
  EXPECT_EQ(bus.published().size(), 2u);
}

TEST(MemoryBus, FailNextFailsThatManyCallsAndChangesNothing) {
  MemoryBus bus;
  bus.failNext(Status(StatusCode::kUnavailable, "redis away"), 2);
  EXPECT_EQ(bus.publish("a.b", "1").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(bus.ping().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(bus.published().empty());
  EXPECT_TRUE(bus.publish("a.b", "2").ok());
  EXPECT_TRUE(bus.ping().ok());
}

TEST(MemoryBus, AThrowingSubscriberIsRecordedAndTheOthersStillReceive) {
  MemoryBus bus;
  std::atomic<int> got{0};
  auto bad = bus.subscribe("x.*", [](const bus::Event&) { throw std::runtime_error("boom"); });
  auto good = bus.subscribe("x.*", [&](const bus::Event&) { ++got; });
  ASSERT_TRUE(bus.publish("x.y", "1").ok());
  ASSERT_TRUE(bus.drain());
  EXPECT_EQ(got.load(), 1);
  EXPECT_THAT(bus.callbackErrors(), ElementsAre("x.*: boom"));
}

TEST(MemoryBus, ASubscriptionMayOutliveItsBus) {
  auto bus = std::make_unique<MemoryBus>();
  auto subscription = bus->subscribe("a.*", [](const bus::Event&) {});
  ASSERT_EQ(bus->subscriptions(), 1u);
  bus.reset();
  subscription.reset();  // ASan: no use of the destroyed bus
}

TEST(MatchRoutePath, ParamsAreWholeSegmentsAndDecoded) {
  std::map<std::string, std::string, std::less<>> params;
  ASSERT_TRUE(matchRoutePath("/api/v2/tasks/{id}", "/api/v2/tasks/a%20b", &params));
  EXPECT_EQ(params["id"], "a b");
  EXPECT_FALSE(matchRoutePath("/api/v2/tasks/{id}", "/api/v2/tasks/"));
  EXPECT_FALSE(matchRoutePath("/api/v2/tasks/{id}", "/api/v2/tasks/1/logs"));
  EXPECT_TRUE(matchRoutePath("/health", "/health"));
}

TEST(RouteClient, AnswersAsTheServerForNoRouteWrongMethodAndBigBodies) {
  auto routes = std::make_shared<MemoryRoutes>();
  routes->add({.id = "echo", .method = "POST", .path = "/echo/{word}", .maxBodyBytes = 4},
              [](http::Request request, http::Responder respond) {
                std::string answer = request.param("word");
                if (auto* loud = request.queryParam("loud")) answer += "|" + *loud;
                respond({.status = 200, .contentType = "text/plain", .body = answer + "|" + request.body});
              });
  RouteClient client(routes, RouteClient::Options{.principal = "ada"});

  auto ok = client.request("POST", "/echo/hi?loud=very+much", "body");
  ASSERT_TRUE(ok.ok()) << ok.status().toString();
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "hi|very much|body");
  ASSERT_EQ(routes->served().size(), 1u);
  EXPECT_EQ(routes->served()[0].principal, "ada");

  EXPECT_EQ(client.request("GET", "/nothing")->status, 404);
  auto wrongMethod = client.request("GET", "/echo/hi");
  EXPECT_EQ(wrongMethod->status, 405);
  ASSERT_EQ(wrongMethod->headers.size(), 1u);
  EXPECT_EQ(wrongMethod->headers[0].value, "POST");
  EXPECT_EQ(client.request("POST", "/echo/hi", "too long")->status, 413);
  EXPECT_EQ(routes->served().size(), 1u) << "refused requests must not reach the provider";
}

TEST(RouteClient, ADroppedResponderIsA500AndASilentOneTimesOut) {
  auto routes = std::make_shared<MemoryRoutes>();
  http::Responder kept;
  routes->add({.id = "drop", .method = "GET", .path = "/drop"}, [](http::Request, http::Responder) {});
  routes->add({.id = "keep", .method = "GET", .path = "/keep"},
              [&](http::Request, http::Responder respond) { kept = std::move(respond); });
  RouteClient client(routes, RouteClient::Options{.timeout = std::chrono::milliseconds(50)});
  EXPECT_EQ(client.request("GET", "/drop")->status, 500);
  EXPECT_EQ(client.request("GET", "/keep").status().code(), StatusCode::kDeadlineExceeded);
}

// A provider's WebSocket route, opened as the api plugin would.
class ShoutRoutes final : public http::RouteProvider {
 public:
  class Session final : public http::WebSocketSession {
   public:
    explicit Session(std::shared_ptr<http::WebSocketPeer> peer) : peer_(std::move(peer)) {}
    void onMessage(std::string_view text) override {
      if (text == "bye") return peer_->close(1000, "bye");
      (void)peer_->send("!" + std::string(text));
    }
    void onClose(std::uint16_t code) override { closedWith = code; }
    std::shared_ptr<http::WebSocketPeer> peer_;
    std::uint16_t closedWith = 0;
  };
  std::vector<http::Route> routes() override { return {}; }
  void serve(std::string_view, http::Request, http::Responder respond) override { respond({.status = 404}); }
  std::vector<http::WebSocketRoute> webSocketRoutes() override {
    return {{.id = "shout", .path = "/ws/{room}"}};
  }
  Result<std::shared_ptr<http::WebSocketSession>> openWebSocket(
      std::string_view, const http::Request& request, std::shared_ptr<http::WebSocketPeer> peer) override {
    if (request.param("room") == "closed") return Status(StatusCode::kPermissionDenied, "closed room");
    last = std::make_shared<Session>(std::move(peer));
    return std::shared_ptr<http::WebSocketSession>(last);
  }
  std::shared_ptr<Session> last;
};

TEST(RouteClient, OpensAProvidersWebSocketAndCarriesMessagesBothWays) {
  auto routes = std::make_shared<ShoutRoutes>();
  RouteClient client(routes);
  EXPECT_EQ(client.openWebSocket("/ws/closed").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(client.openWebSocket("/nowhere").status().code(), StatusCode::kNotFound);

  auto socket = client.openWebSocket("/ws/lobby");
  ASSERT_TRUE(socket.ok()) << socket.status().toString();
  ASSERT_TRUE((*socket)->send("hi").ok());
  EXPECT_THAT((*socket)->received(), ElementsAre("!hi"));
  ASSERT_TRUE((*socket)->send("bye").ok());
  EXPECT_EQ((*socket)->closedByProvider(), std::optional<std::uint16_t>(1000));
  EXPECT_EQ((*socket)->send("late").code(), StatusCode::kUnavailable);
  auto session = routes->last;
  socket->reset();  // dropped unclosed by the client: the session hears 1006
  EXPECT_EQ(session->closedWith, 1006);
}

// A plugin provides routes and consumes the bus; the test drives it with the
// in-memory providers only.
TEST(InMemoryProviders, UnitTestAConsumerPluginWithoutHandWrittenFakes) {
  auto harness = PluginHarness::create<notes_test::NotesPlugin>("notes");
  auto bus = std::make_shared<MemoryBus>();
  harness->provideFake<bus::Bus>(bus);
  ASSERT_TRUE(harness->start().ok());
  RouteClient client(harness->services());

  auto posted = client.request("POST", "/api/v2/notes/daily", R"({"text":"hi"})");
  ASSERT_TRUE(posted.ok()) << posted.status().toString();
  EXPECT_EQ(posted->status, 201);
  auto published = bus->published("notes.*");
  ASSERT_EQ(published.size(), 1u);
  EXPECT_EQ(published[0].topic, "notes.daily");
  EXPECT_THAT(posted->body, HasSubstr(published[0].id));

  ASSERT_TRUE(bus->publish("tasks.1", "{}").ok());
  ASSERT_TRUE(bus->drain());
  EXPECT_EQ(client.request("GET", "/api/v2/notes/heard")->body, R"({"heard":1})");

  // A swap of the bus provider, played: the plugin's follower moves to the new bus.
  auto next = std::make_shared<MemoryBus>();
  harness->provideFake<bus::Bus>(next);
  EXPECT_EQ(bus->subscriptions(), 0u) << "the old provider's subscription was not dropped";
  ASSERT_TRUE(next->publish("tasks.2", "{}").ok());
  ASSERT_TRUE(next->drain());
  EXPECT_EQ(client.request("GET", "/api/v2/notes/heard")->body, R"({"heard":2})");

  // Bus errors reach the client as problems.
  next->failNext(Status(StatusCode::kUnavailable, "redis away"));
  EXPECT_EQ(client.request("POST", "/api/v2/notes/daily", "{}")->status, 503);
  harness->stop();
  EXPECT_EQ(next->subscriptions(), 0u);
}

}  // namespace
}  // namespace hive::testing
