// hive.routes/1 in unit tests, both ways, without the api plugin or a socket.
//
// RouteClient drives a plugin's route provider as the api plugin would: it
// matches a request against routes() and webSocketRoutes(), fills the {param}s
// and the decoded query, calls serve() or openWebSocket() and hands back what
// the provider answered.
//
//   hive::testing::RouteClient client(harness->services());   // the provider the plugin registered
//   auto response = client.request("POST", "/api/v2/greetings?lang=fr", R"({"name":"Ada"})");
//   ASSERT_TRUE(response.ok()) << response.status().toString();
//   EXPECT_EQ(response->status, 201);
//   auto socket = client.openWebSocket("/api/v2/greetings/live");
//   ASSERT_TRUE(socket.ok());
//   (*socket)->send(R"({"type":"hello"})");                   // Session::onMessage
//   EXPECT_EQ((*socket)->received().size(), 1u);              // what the provider sent
//
// MemoryRoutes is a provider of hive.routes/1 whose handlers the test writes,
// for a plugin that consumes route providers.
//
// What RouteClient does not do, on purpose: authentication (Request::principal
// is what the test sets; permissions are not checked, see
// RouteClient::Options) and the server's HTTP limits other than a route's
// maxBodyBytes. Thread-safe unless said otherwise.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hive/services.hpp"
#include "hive/services/http.hpp"
#include "hive/status.hpp"

namespace hive::testing {

// One WebSocket connection opened by RouteClient: the test's end of it.
class TestWebSocket {
 public:
  virtual ~TestWebSocket() = default;
  // Calls the provider session's onMessage() on this thread. kUnavailable once
  // closed (by either side).
  virtual Status send(std::string_view text) = 0;
  // Closes from the client's side. The session's onClose(code) runs once:
  // here, or with 1006 when the TestWebSocket is destroyed unclosed.
  virtual void close(std::uint16_t code = 1000) = 0;
  // What the provider sent so far, oldest first.
  virtual std::vector<std::string> received() const = 0;
  // The close code the provider sent with WebSocketPeer::close, if it did.
  virtual std::optional<std::uint16_t> closedByProvider() const = 0;
};

class RouteClient {
 public:
  struct Options {
    std::string principal;  // Request::principal of every request
    std::string remoteAddress = "127.0.0.1:40000";
    // How long request() waits for the provider's Responder.
    std::chrono::milliseconds timeout{10'000};
    // WebSocketPeer::send beyond this many messages held in received() is
    // refused with kResourceExhausted, as a full send queue of the server is.
    std::size_t sendQueue = 4096;
  };

  // Routes to the provider of hive.routes/1 in `services` named `provider`
  // (the first one when empty), looked up anew at each request, so that a
  // swap played with provideFake() is followed.
  explicit RouteClient(ServiceRegistry& services, std::string provider = {});
  RouteClient(ServiceRegistry& services, std::string provider, Options options);
  // Routes to this provider alone.
  explicit RouteClient(std::shared_ptr<http::RouteProvider> provider);
  RouteClient(std::shared_ptr<http::RouteProvider> provider, Options options);

  // One request. `target` is a path with an optional query:
  // "/api/v2/tasks/7?verbose=true". Answers as the server would when no route
  // matches (404), when only the method differs (405), or when the body is over
  // the route's maxBodyBytes (413). kDeadlineExceeded when the provider did not
  // respond within Options::timeout; kUnavailable without a provider.
  Result<http::Response> request(std::string_view method, std::string_view target, std::string body = {},
                                 std::vector<http::Header> headers = {});

  // Opens the provider's WebSocket route whose path matches. kNotFound without
  // one; otherwise what openWebSocket() refused with.
  Result<std::shared_ptr<TestWebSocket>> openWebSocket(std::string_view target,
                                                       std::vector<http::Header> headers = {});

 private:
  Result<std::shared_ptr<http::RouteProvider>> provider();
  http::Request makeRequest(std::string_view method, std::string_view target, std::string body,
                            std::vector<http::Header> headers) const;

  ServiceRegistry* services_ = nullptr;
  std::string providerName_;
  std::shared_ptr<http::RouteProvider> fixed_;
  Options options_;
  std::uint64_t serial_ = 0;
  std::mutex mutex_;
};

// Whether `path` matches the route template `pattern` ("/api/v2/tasks/{id}": a
// {param} is one whole non-empty segment); fills `params` when it does.
bool matchRoutePath(std::string_view pattern, std::string_view path,
                    std::map<std::string, std::string, std::less<>>* params = nullptr);

// A provider of hive.routes/1 made of routes and handlers the test gives; it
// records the requests it served.
class MemoryRoutes final : public http::RouteProvider {
 public:
  void add(http::Route route, http::RouteTable::Handler handler);
  std::vector<http::Request> served() const;

  // http::RouteProvider
  std::vector<http::Route> routes() override;
  void serve(std::string_view routeId, http::Request request, http::Responder respond) override;

 private:
  mutable std::mutex mutex_;
  http::RouteTable table_;
  std::vector<http::Request> served_;
};

}  // namespace hive::testing
