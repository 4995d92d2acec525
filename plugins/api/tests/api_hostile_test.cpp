// Hostile input against the api plugin over real sockets: request smuggling,
// oversized heads and bodies, too many headers, slow clients, deep JSON. Every
// case checks the status, that the connection is closed, that the server still
// serves, and that no descriptor leaks.
#include <cstdio>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api_host.hpp"
#include "ws_client.hpp"

namespace hive::api_test {
namespace {

using ::testing::HasSubstr;

HostOptions hostile() {
  HostOptions options;
  options.logLevel = hive::LogLevel::kWarn;
  options.api = {{"limits", mapOf({{"header_timeout", scalar("2s")}, {"body_timeout", scalar("2s")}})}};
  return options;
}

class ApiHostile : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api_.start()) << api_.problem();
    fdsBefore_ = openFds();
  }
  void TearDown() override {
    EXPECT_EQ(request(api_.port(), "GET", "/livez").status, 200) << "the server still serves";
    EXPECT_TRUE(eventually([&] { return openFds() <= fdsBefore_; }))
        << "descriptors: " << openFds() << " now, " << fdsBefore_ << " before";
  }

  // Sends `bytes` on a fresh connection; the reply, which must close it.
  HttpReply exchange(const std::string& bytes) {
    RawConnection connection(api_.port());
    EXPECT_TRUE(connection.send(bytes));
    HttpReply reply = connection.read();
    return reply;
  }

  ApiHost api_{hostile()};
  std::size_t fdsBefore_ = 0;
};

TEST_F(ApiHostile, SmugglingCorpusIsRefusedWith400AndClosed) {
  const std::vector<std::pair<std::string, std::string>> corpus = {
      {"CL+TE",
       "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0\r\n\r\n"},
      {"TE+CL",
       "POST /test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
       "0\r\n\r\n"},
      {"two CL",
       "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde"},
      {"CL list", "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 5\r\n\r\nabcde"},
      {"CL sign", "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd"},
      {"CL hex", "POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0x4\r\n\r\nabcd"},
      {"TE gzip", "POST /test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"},
      {"TE twice",
       "POST /test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
       "\r\n0\r\n\r\n"},
      {"TE obs", "POST /test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"},
      {"obs-fold", "GET /test/hello HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"},
      {"obs-fold tab", "GET /test/hello HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n"},
      {"bare LF", "GET /test/hello HTTP/1.1\nHost: x\n\n"},
      {"bare LF mid", "GET /test/hello HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n"},
      {"bare CR", "GET /test/hello HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n"},
      {"NUL", std::string("GET /test/hello HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 45)},
      {"space before colon", "GET /test/hello HTTP/1.1\r\nHost : x\r\n\r\n"},
      {"no host", "GET /test/hello HTTP/1.1\r\n\r\n"},
      {"two hosts", "GET /test/hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
      {"bad chunk",
       "POST /test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
      {"garbage", "\x16\x03\x01\x02\xfc\x03\x03\r\n\r\n"},
      {"absolute form", "GET http://evil/test/hello HTTP/1.1\r\nHost: x\r\n\r\n"},
  };
  for (const auto& [name, bytes] : corpus) {
    HttpReply reply = exchange(bytes);
    EXPECT_EQ(reply.status, 400) << name;
    EXPECT_TRUE(reply.closed) << name << ": the connection must be closed";
    if (reply.status != 0) EXPECT_EQ(reply.header("content-type"), "application/problem+json") << name;
  }
  // A smuggled second request must never be answered.
  RawConnection connection(api_.port());
  ASSERT_TRUE(
      connection.send("POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\nTransfer-Encoding: "
                      "chunked\r\n\r\n0\r\n\r\nGET /test/hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(connection.read().status, 400);
  EXPECT_EQ(connection.read(std::chrono::seconds(1)).status, 0);
}

TEST_F(ApiHostile, OversizedTargetHeadAndHeaderCount) {
  auto longTarget =
      exchange("GET /test/items/" + std::string(10 * 1024, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(longTarget.status, 414);
  EXPECT_TRUE(longTarget.closed);
  auto hugeTarget =
      exchange("GET /test/items/" + std::string(40 * 1024, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(hugeTarget.status, 414);
  auto bigHeader =
      exchange("GET /test/hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20 * 1024, 'b') + "\r\n\r\n");
  EXPECT_EQ(bigHeader.status, 431);
  EXPECT_TRUE(bigHeader.closed);
  std::string many = "GET /test/hello HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 100; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  auto manyHeaders = exchange(many + "\r\n");
  EXPECT_EQ(manyHeaders.status, 431);
  EXPECT_THAT(manyHeaders.body, HasSubstr("too many header fields"));
}

TEST_F(ApiHostile, OversizedBodiesAre413BeforeTheBodyIsRead) {
  // Only the head is sent: the answer must come without waiting for the body.
  RawConnection connection(api_.port());
  ASSERT_TRUE(connection.send("POST /test/json HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n"));
  auto reply = connection.read(std::chrono::seconds(2));
  EXPECT_EQ(reply.status, 413);
  EXPECT_EQ(reply.header("content-type"), "application/problem+json");

  // The route's own, lower limit.
  auto routeLimit = exchange("POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" +
                             std::string(5000, 'x'));
  EXPECT_EQ(routeLimit.status, 413);
  EXPECT_TRUE(routeLimit.closed);
  auto chunked =
      exchange("POST /test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1400\r\n" +
               std::string(0x1400, 'x') + "\r\n0\r\n\r\n");
  EXPECT_EQ(chunked.status, 413);
  auto fine = exchange(
      "POST /test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  EXPECT_EQ(fine.status, 200);
  EXPECT_EQ(fine.body, "\"abc\"");
}

TEST_F(ApiHostile, SlowHeadsAndBodiesGet408) {
  RawConnection head(api_.port());
  ASSERT_TRUE(head.send("GET /test/hello HTTP/1.1\r\nHost: x\r\n"));
  auto timedOut = head.read(std::chrono::seconds(10));
  EXPECT_EQ(timedOut.status, 408);
  EXPECT_TRUE(timedOut.closed);

  RawConnection body(api_.port());
  ASSERT_TRUE(body.send("POST /test/json HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{\""));
  auto slowBody = body.read(std::chrono::seconds(10));
  EXPECT_EQ(slowBody.status, 408);
}

TEST_F(ApiHostile, JsonNestedAHundredThousandDeepIsRefusedNotFatal) {
  std::string deep(100'000, '[');
  deep += std::string(100'000, ']');
  RawConnection connection(api_.port());
  ASSERT_TRUE(
      connection.send("POST /test/json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: " +
                      std::to_string(deep.size()) + "\r\n\r\n" + deep));
  auto reply = connection.read();
  EXPECT_EQ(reply.status, 422);
  EXPECT_EQ(reply.header("content-type"), "application/problem+json");
  // The same connection goes on.
  ASSERT_TRUE(connection.send("GET /test/hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(connection.read().status, 200);
}

TEST_F(ApiHostile, PipelinedRequestsAreAnsweredInOrder) {
  RawConnection connection(api_.port());
  ASSERT_TRUE(connection.send(
      "GET /test/items/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /test/items/2 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_THAT(connection.read().body, HasSubstr("\"id\":\"1\""));
  EXPECT_THAT(connection.read().body, HasSubstr("\"id\":\"2\""));
  EXPECT_EQ(connection.read().status, 404);
}

TEST_F(ApiHostile, SlowlorisConnectionsDoNotStopNormalRequests) {
  constexpr int kSlow = 40;
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < kSlow; ++i) slow.push_back(std::make_unique<RawConnection>(api_.port()));
  const std::string head = "GET /test/hello HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  int served = 0;
  for (std::size_t byte = 0; byte < 4; ++byte) {
    for (auto& connection : slow) connection->send(head.substr(byte, 1));
    auto reply = request(api_.port(), "GET", "/test/hello");
    if (reply.status == 200) ++served;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  EXPECT_EQ(served, 4) << "normal requests are served while slow clients dribble";
  int timedOut = 0;
  for (auto& connection : slow) {
    auto reply = connection->read(std::chrono::seconds(10));
    if (reply.status == 408 && reply.closed) ++timedOut;
  }
  EXPECT_EQ(timedOut, kSlow) << "each slow client gets 408 at the head deadline";
  slow.clear();
}

// The resident set of this process (the server runs in it), in bytes.
std::size_t residentBytes() {
  std::string status = readFile("/proc/self/status");
  auto at = status.find("VmRSS:");
  return at == std::string::npos ? 0 : std::stoul(status.substr(at + 6)) * 1024;
}

// Beast keeps a chunk line in its read buffer until the line ends: a 200 MiB
// chunk extension grew the process by as much and got no answer.
TEST_F(ApiHostile, AHugeChunkExtensionIsRefusedWithoutBeingBuffered) {
  constexpr std::size_t kExtension = 200 << 20;
  std::size_t before = residentBytes();
  RawConnection connection(api_.port());
  ASSERT_TRUE(
      connection.send("POST /test/json HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;name="));
  std::size_t sent = 0;
  std::thread sender([&] {
    const std::string piece(64 * 1024, 'a');
    while (sent < kExtension && connection.send(piece)) sent += piece.size();
  });
  HttpReply reply = connection.read(std::chrono::seconds(60));
  sender.join();
  std::size_t after = residentBytes();
  EXPECT_EQ(reply.status, 431);
  EXPECT_EQ(reply.header("content-type"), "application/problem+json");
  EXPECT_THAT(reply.body, HasSubstr("chunk extensions"));
  EXPECT_TRUE(reply.closed);
  EXPECT_LT(sent, kExtension) << "the server stopped reading";
  EXPECT_LT(after, before + (10 << 20)) << "RSS " << before << " -> " << after;
  std::printf("chunk extension: %zu bytes sent, RSS %zu -> %zu KiB\n", sent, before >> 10, after >> 10);
}

TEST_F(ApiHostile, TrailersAndChunkExtensionsCountAgainstTheHeaderLimit) {
  auto small = exchange(
      "POST /test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "3;a=b\r\nabc\r\n0\r\nX-Checksum: 1234\r\n\r\n");
  EXPECT_EQ(small.status, 200);
  EXPECT_EQ(small.body, "\"abc\"");

  // 100 KB of trailer: answered (it once got nothing at all), and closed.
  RawConnection big(api_.port());
  big.send(
      "POST /test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Big: " +
      std::string(100 * 1024, 'b') + "\r\n\r\n");
  auto trailer = big.read(std::chrono::seconds(10));
  EXPECT_EQ(trailer.status, 431);
  EXPECT_TRUE(trailer.closed);

  // Each line fits in the buffer; together they exceed the 16 KiB budget.
  std::string many = "POST /test/json HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 20; ++i) many += "1;e=" + std::string(1000, 'e') + "\r\n \r\n";
  many += "0\r\n\r\n";
  auto extensions = exchange(many);
  EXPECT_EQ(extensions.status, 431);
  EXPECT_TRUE(extensions.closed);

  std::string fields = "POST /test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  for (int i = 0; i < 70; ++i) fields += "X-T" + std::to_string(i) + ": v\r\n";
  auto manyTrailers = exchange(fields + "\r\n");
  EXPECT_EQ(manyTrailers.status, 431);
  EXPECT_THAT(manyTrailers.body, HasSubstr("too many header and trailer fields"));
}

// A connection whose request is under way: the head started, not finished.
std::unique_ptr<RawConnection> busyConnection(std::uint16_t port) {
  auto connection = std::make_unique<RawConnection>(port);
  connection->send("GET /livez HTTP/1.1\r\n");
  return connection;
}

// Idle keep-alive sockets made every other client get 503 until they timed
// out (60 s). At the limit the oldest idle connection now makes room.
TEST(ApiHostileLimits, IdleKeepAliveConnectionsMakeRoomForNewClients) {
  HostOptions options;
  options.logLevel = hive::LogLevel::kWarn;
  ApiHost api(options);  // the default limit: 1,024 connections
  ASSERT_TRUE(api.start()) << api.problem();
  constexpr int kIdle = 1100;
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < kIdle; ++i) {
    idle.push_back(std::make_unique<RawConnection>(api.port()));
    ASSERT_TRUE(idle.back()->send("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_EQ(idle.back()->read().status, 200) << "connection " << i;
  }
  auto served = request(api.port(), "GET", "/livez");
  EXPECT_EQ(served.status, 200) << "a new client is served while 1,100 idle connections are held";
  EXPECT_TRUE(idle.front()->peerClosed(std::chrono::seconds(5))) << "the oldest idle connection made room";
  // The newest idle connections are still there and still serve.
  ASSERT_TRUE(idle.back()->send("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(idle.back()->read().status, 200);
}

TEST(ApiHostileLimits, ConnectionsBeyondTheLimitGet503WhenNoneIsIdle) {
  HostOptions options;
  options.logLevel = hive::LogLevel::kWarn;
  options.api = {{"limits", mapOf({{"max_connections", scalar("4")}})}};
  ApiHost api(options);
  ASSERT_TRUE(api.start()) << api.problem();
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 4; ++i) held.push_back(busyConnection(api.port()));
  // Until the server has read their first bytes, these connections are idle
  // (new and silent) and one would make room for the probe.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(request(api.port(), "GET", "/livez", "Connection: close\r\n").status, 503);
  held.clear();
  EXPECT_TRUE(eventually([&] { return request(api.port(), "GET", "/livez").status == 200; }));
}

TEST(ApiHostileLimits, ConnectionsPerAddressAreLimitedWebSocketsIncluded) {
  HostOptions options;
  options.logLevel = hive::LogLevel::kWarn;
  options.bus = true;
  options.api = {{"limits", mapOf({{"max_connections_per_address", scalar("3")}})}};
  ApiHost api(options);
  ASSERT_TRUE(api.start()) << api.problem();
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<RawConnection>(api.port()));
    ASSERT_TRUE(held.back()->send("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_EQ(held.back()->read().status, 200);
  }
  auto refused = request(api.port(), "GET", "/livez");
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(refused.header("content-type"), "application/problem+json");
  EXPECT_THAT(refused.body, HasSubstr("too many connections from your address (limit 3)"));
  EXPECT_TRUE(refused.closed);

  // A WebSocket keeps its place after the upgrade. (The refused connection
  // above holds no place; the one closed here frees its own once the server
  // sees the close.)
  held.pop_back();
  std::unique_ptr<WsClient> socket;
  ASSERT_TRUE(eventually([&] {
    socket = std::make_unique<WsClient>();
    return socket->connect(api.port(), "/api/v2/ws") == 101;
  }));
  EXPECT_EQ(request(api.port(), "GET", "/livez").status, 429);
  socket->close();
  EXPECT_TRUE(eventually([&] { return request(api.port(), "GET", "/livez").status == 200; }));
}

}  // namespace
}  // namespace hive::api_test
