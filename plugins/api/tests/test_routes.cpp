// A route provider for the api plugin's tests, built like a real plugin. On
// request (config) it also provides an in-memory hive.bus/1 (hive::testing::MemoryBus), a
// fake hive.admin/1 and a hive.auth/1 that accepts "Bearer good".
//
// Built twice: TEST_ROUTES_BUILD "v1" and "v2" (v2 adds GET /test/v2only).
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include <boost/json/src.hpp>

#include "hive/plugin.hpp"
#include "hive/services/admin.hpp"
#include "hive/services/auth.hpp"
#include "hive/services/bus.hpp"
#include "hive/services/http.hpp"
#include "hive/testing/memory_bus.hpp"

namespace hive::api_test {
namespace {

using http::Request;
using http::Responder;
using http::Response;

Response json(std::string body, int status = 200) {
  Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

class EchoSession final : public http::WebSocketSession {
 public:
  explicit EchoSession(std::shared_ptr<http::WebSocketPeer> peer) : peer_(std::move(peer)) {}
  void onMessage(std::string_view text) override {
    if (text == "close-me") {
      peer_->close(4000, "asked to");
      return;
    }
    // "flood:<count>:<bytes>": that many messages, numbered, until one is refused.
    if (text.rfind("flood:", 0) == 0) {
      std::string spec(text.substr(6));
      std::size_t colon = spec.find(':');
      int count = std::stoi(spec.substr(0, colon));
      std::string padding(std::stoul(spec.substr(colon + 1)), 'x');
      for (sent_ = 0; sent_ < count; ++sent_) {
        Status status = peer_->send("f" + std::to_string(sent_) + ":" + padding);
        if (!status.ok()) {
          refusal_ = status.toString();
          break;
        }
      }
      return;
    }
    if (text == "build") {
      (void)peer_->send(std::string("build:") + TEST_ROUTES_BUILD);
      return;
    }
    if (text == "flood-report") {
      (void)peer_->send("sent:" + std::to_string(sent_) + " refusal:" + refusal_);
      return;
    }
    (void)peer_->send("echo:" + std::string(text));
  }
  void onClose(std::uint16_t) override { peer_.reset(); }

 private:
  std::shared_ptr<http::WebSocketPeer> peer_;
  int sent_ = 0;
  std::string refusal_;
};

class Routes final : public http::RouteProvider {
 public:
  Routes() {
    table_.add({.id = "hello", .method = "GET", .path = "/test/hello", .permission = "", .openapi = ""},
               [](Request, Responder done) {
                 done(json(std::string("{\"hello\":\"world\",\"build\":\"") + TEST_ROUTES_BUILD + "\"}"));
               });
    table_.add({.id = "item",
                .method = "GET",
                .path = "/test/items/{id}",
                .permission = "",
                .openapi = R"({"summary":"One item","responses":{"200":{"description":"the item"}}})"},
               [](Request request, Responder done) {
                 std::string body = "{\"id\":" + http::jsonQuote(request.param("id")) + ",\"query\":{";
                 for (std::size_t i = 0; i < request.query.size(); ++i)
                   body += (i ? "," : "") + http::jsonQuote(request.query[i].first) + ":" +
                           http::jsonQuote(request.query[i].second);
                 body += "},\"path\":" + http::jsonQuote(request.path) +
                         ",\"requestId\":" + http::jsonQuote(request.requestId) + "}";
                 done(json(body));
               });
    table_.add({.id = "stats", .method = "GET", .path = "/test/items/stats", .permission = "", .openapi = ""},
               [](Request, Responder done) { done(json("{\"stats\":true}")); });
    table_.add(
        {.id = "delete", .method = "DELETE", .path = "/test/items/{id}", .permission = "", .openapi = ""},
        [](Request, Responder done) {
          Response response;
          response.status = 204;
          response.contentType.clear();
          done(response);
        });
    table_.add({.id = "echo",
                .method = "POST",
                .path = "/test/echo",
                .permission = "",
                .openapi = "",
                .maxBodyBytes = 4096},
               [](Request request, Responder done) { done(json(http::jsonQuote(request.body))); });
    table_.add({.id = "json", .method = "POST", .path = "/test/json", .permission = "", .openapi = ""},
               [](Request request, Responder done) {
                 boost::json::parse_options options;
                 options.max_depth = 64;
                 boost::system::error_code error;
                 boost::json::monotonic_resource resource;
                 boost::json::parse(request.body, error, &resource, options);
                 if (error)
                   return done(http::problem(422, "Unprocessable Content", "body is not acceptable JSON",
                                             {{"/", error.message()}}));
                 done(json("{\"ok\":true}"));
               });
    // Problems as providers build them: from a Status (title = its code), or
    // with a problem type of their own.
    table_.add(
        {.id = "status", .method = "GET", .path = "/test/status/{kind}", .permission = "", .openapi = ""},
        [](Request request, Responder done) {
          std::string kind = request.param("kind");
          if (kind == "missing") return done(http::problem(notFound("no item 7")));
          if (kind == "invalid") return done(http::problem(invalidArgument("priority out of range")));
          if (kind == "conflict") return done(http::problem(failedPrecondition("already finished")));
          done(http::problem(409, "Task Already Finished", "task 7 finished at 12:00", {},
                             "https://hive.example/problems/finished"));
        });
    table_.add({.id = "drop", .method = "GET", .path = "/test/drop", .permission = "", .openapi = ""},
               [](Request, Responder) {});
    table_.add(
        {.id = "badheader", .method = "GET", .path = "/test/badheader", .permission = "", .openapi = ""},
        [](Request, Responder done) {
          Response response = json("{}");
          response.headers.push_back({"x-evil", "a\r\nset-cookie: x=1"});
          done(response);
        });
    table_.add(
        {.id = "secret", .method = "GET", .path = "/test/secret", .permission = "test.read", .openapi = ""},
        [](Request request, Responder done) {
          done(json("{\"principal\":" + http::jsonQuote(request.principal) + "}"));
        });
    table_.add({.id = "guarded",
                .method = "POST",
                .path = "/test/guarded",
                .permission = "test.write",
                .openapi = ""},
               [](Request request, Responder done) {
                 done(json("{\"principal\":" + http::jsonQuote(request.principal) + "}"));
               });
    table_.add({.id = "async", .method = "GET", .path = "/test/async", .permission = "", .openapi = ""},
               [](Request, Responder done) {
                 // Answered from another thread, as a provider doing I/O would.
                 std::thread([done = std::move(done)] { done(json("{\"async\":true}")); }).detach();
               });
#ifdef TEST_ROUTES_V2
    table_.add({.id = "v2only", .method = "GET", .path = "/test/v2only", .permission = "", .openapi = ""},
               [](Request, Responder done) { done(json("{\"v2\":true}")); });
#endif
  }

  std::vector<http::Route> routes() override { return table_.routes(); }
  void serve(std::string_view id, Request request, Responder done) override {
    table_.serve(id, std::move(request), std::move(done));
  }
  std::vector<http::WebSocketRoute> webSocketRoutes() override {
    return {{.id = "echo",
             .path = "/test/ws/echo",
             .permission = "",
             .subprotocol = "test.echo",
             .description = "echoes text"}};
  }
  Result<std::shared_ptr<http::WebSocketSession>> openWebSocket(
      std::string_view id, const Request& request, std::shared_ptr<http::WebSocketPeer> peer) override {
    if (id != "echo") return notFound("no such route");
    if (request.queryParam("refuse") != nullptr)
      return Status(StatusCode::kPermissionDenied, "refused on request");
    return std::shared_ptr<http::WebSocketSession>(std::make_shared<EchoSession>(std::move(peer)));
  }
  std::string openapiSchemas() override { return R"({"TestItem":{"type":"object"}})"; }

 private:
  http::RouteTable table_;
};

class FakeKernel final : public admin::Kernel {
 public:
  admin::Phase phase() const override { return admin::Phase::kReady; }
  std::string version() const override { return "0.0.0-test"; }
  std::vector<admin::PluginState> plugins() const override {
    return {{.name = "api",
             .version = "1.0.0",
             .state = "running",
             .generation = 1,
             .file = "api-1.0.0.so",
             .error = "",
             .provides = {},
             .leasesInFlight = 0},
            {.name = "api_test_routes",
             .version = "1.0.0",
             .state = "running",
             .generation = reloads_ + 1,
             .file = "api_test_routes.so",
             .error = "",
             .provides = {"hive.routes/1"},
             .leasesInFlight = 0}};
  }
  Status reloadPlugin(const std::string& name) override {
    if (name != "api_test_routes") return notFound("no plugin named '" + name + "'");
    ++reloads_;
    return okStatus();
  }
  Status reloadConfig() override { return failedPrecondition("test kernel has no config file"); }

 private:
  std::atomic<std::uint64_t> reloads_{0};
};

class BearerAuth final : public auth::Authenticator {
 public:
  auth::Decision authorize(const http::Request& request, std::string_view permission) override {
    const std::string* header = request.header("authorization");
    if (header != nullptr && *header == "Bearer good") return {.allowed = true, .principal = "tester"};
    // A provider that names a caller as a plugin acting for a tenant (hive.tenancy/1's reserved form).
    if (header != nullptr && *header == "Bearer impostor")
      return {.allowed = true, .principal = "plugin:workflow_engine@acme"};
    if (header != nullptr && *header == "Bearer weak")
      return {.allowed = permission.empty(),
              .principal = "weakling",
              .code = StatusCode::kPermissionDenied,
              .reason = "missing " + std::string(permission)};
    return {.allowed = permission.empty(),
            .principal = "",
            .code = StatusCode::kUnauthenticated,
            .reason = "bearer token required"};
  }
};

class TestRoutesPlugin final : public Plugin {
 public:
  explicit TestRoutesPlugin(PluginContext& context) : context_(context) {}

  void configure(const ConfigNode& section, Diagnostics& diagnostics) override {
    ConfigReader reader(section, diagnostics);
    provideBus_ = reader.get<bool>("provide_bus", false);
    provideAdmin_ = reader.get<bool>("provide_admin", false);
    provideAuth_ = reader.get<bool>("provide_auth", false);
    reader.finish();
  }
  Status start() override {
    HIVE_TRY(context_.services().provide<http::RouteProvider>(std::make_shared<Routes>()));
    // Hive::sdk_testing's bus, with a history big enough for the resume tests.
    if (provideBus_)
      HIVE_TRY(context_.services().provide<bus::Bus>(
          std::make_shared<testing::MemoryBus>(testing::MemoryBus::Options{.history = 100'000})));
    if (provideAdmin_) HIVE_TRY(context_.services().provide<admin::Kernel>(std::make_shared<FakeKernel>()));
    if (provideAuth_)
      HIVE_TRY(context_.services().provide<auth::Authenticator>(std::make_shared<BearerAuth>()));
    return okStatus();
  }
  void stop() override {}

 private:
  PluginContext& context_;
  bool provideBus_ = false;
  bool provideAdmin_ = false;
  bool provideAuth_ = false;
};

}  // namespace
}  // namespace hive::api_test

HIVE_PLUGIN(hive::api_test::TestRoutesPlugin, .name = "api_test_routes", .version = TEST_ROUTES_VERSION,
            .description = "routes for the api plugin's tests",
            .provides = {hive::http::RouteProvider::kServiceId, hive::bus::Bus::kServiceId,
                         hive::admin::Kernel::kServiceId, hive::auth::Authenticator::kServiceId})
