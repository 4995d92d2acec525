// The real dashboard .so through the SDK harness: the app's files as the
// browser gets them (variants decompressed with zlib and libbrotli and
// compared with the file as built, cache and security headers, 304, 404), and
// GET /api/v2/dashboard/session with and without an auth provider.
#include <zlib.h>

#include <optional>
#include <regex>
#include <string>

#include <brotli/decode.h>
#include <gtest/gtest.h>

#include "assets.hpp"
#include "hive/services/auth.hpp"
#include "hive/services/http.hpp"
#include "hive/testing/harness.hpp"
#include "routes.hpp"
#include "static_files.hpp"

namespace hive::dashboard {
namespace {

using testing::PluginHarness;

std::unique_ptr<PluginHarness> started(ConfigNode section = ConfigNode::map()) {
  auto loaded = PluginHarness::loadLibrary(DASHBOARD_PLUGIN);
  EXPECT_TRUE(loaded.ok()) << loaded.status().message();
  auto harness = std::move(loaded).value();
  harness->setConfig(std::move(section));
  EXPECT_FALSE(harness->configure().hasErrors());
  Status status = harness->start();
  EXPECT_TRUE(status.ok()) << status.message();
  return harness;
}

const http::Route* findRoute(const std::vector<http::Route>& routes, std::string_view path) {
  for (const auto& route : routes)
    if (route.path == path) return &route;
  return nullptr;
}

struct Client {
  PluginHarness& harness;

  http::Response get(std::string_view path, std::vector<http::Header> headers = {}) {
    auto provider = harness.services().get<http::RouteProvider>();
    EXPECT_TRUE(provider.ok());
    auto routes = (*provider)->routes();
    // Matches like the api's router: literal segments before {file}.
    std::string id;
    http::Request request;
    request.method = "GET";
    request.path = std::string(path);
    request.headers = std::move(headers);
    if (findRoute(routes, path) != nullptr) {
      id = findRoute(routes, path)->id;
    } else if (path.starts_with("/dashboard/assets/")) {
      id = "asset";
      request.params["file"] = std::string(path.substr(18));
    } else if (path.starts_with("/dashboard/")) {
      id = "file";
      request.params["file"] = std::string(path.substr(11));
    }
    std::optional<http::Response> answer;
    (*provider)->serve(id, std::move(request), [&](http::Response r) { answer = std::move(r); });
    harness.runPending();
    EXPECT_TRUE(answer.has_value()) << path;
    return answer.value_or(http::Response{});
  }
};

std::string header(const http::Response& response, std::string_view name) {
  for (const auto& h : response.headers)
    if (h.name == name) return h.value;
  return {};
}

std::string gunzip(const std::string& bytes) {
  z_stream stream{};
  EXPECT_EQ(inflateInit2(&stream, 16 + MAX_WBITS), Z_OK);
  std::string out;
  char buffer[16384];
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  stream.avail_in = static_cast<uInt>(bytes.size());
  int result = Z_OK;
  while (result == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof(buffer);
    result = inflate(&stream, Z_NO_FLUSH);
    out.append(buffer, sizeof(buffer) - stream.avail_out);
  }
  EXPECT_EQ(result, Z_STREAM_END);
  inflateEnd(&stream);
  return out;
}

std::string unbrotli(const std::string& bytes, std::size_t size) {
  std::string out(size, '\0');
  std::size_t decoded = size;
  EXPECT_EQ(BrotliDecoderDecompress(bytes.size(), reinterpret_cast<const uint8_t*>(bytes.data()), &decoded,
                                    reinterpret_cast<uint8_t*>(out.data())),
            BROTLI_DECODER_RESULT_SUCCESS);
  out.resize(decoded);
  return out;
}

TEST(Dashboard, TheAppIsPublicAndTheSessionRouteIsDocumented) {
  auto harness = started();
  auto provider = harness->services().get<http::RouteProvider>();
  ASSERT_TRUE(provider.ok());
  auto routes = (*provider)->routes();
  for (const char* path :
       {"/", "/dashboard/", "/dashboard", "/dashboard/{file}", "/dashboard/assets/{file}"}) {
    const auto* route = findRoute(routes, path);
    ASSERT_NE(route, nullptr) << path;
    EXPECT_EQ(route->method, "GET");
    EXPECT_EQ(route->permission, "") << "the shell must load before sign-in: " << path;
  }
  const auto* session = findRoute(routes, "/api/v2/dashboard/session");
  ASSERT_NE(session, nullptr);
  EXPECT_FALSE(session->openapi.empty());
}

TEST(Dashboard, IndexIsRevalidatedAndNamesOnlyEmbeddedHashedAssets) {
  auto harness = started();
  Client client{*harness};
  for (const char* path : {"/", "/dashboard/", "/dashboard/index.html"}) {
    http::Response index = client.get(path);
    EXPECT_EQ(index.status, 200) << path;
    EXPECT_EQ(index.contentType, "text/html; charset=utf-8");
    EXPECT_EQ(header(index, "cache-control"), "no-cache");
    EXPECT_EQ(header(index, "content-security-policy"), kContentSecurityPolicy);
    EXPECT_EQ(header(index, "x-content-type-options"), "nosniff");
    EXPECT_EQ(header(index, "content-encoding"), "") << "no Accept-Encoding: identity";
    EXPECT_EQ(index.body.find("<script>"), std::string::npos) << "no inline script";
    EXPECT_EQ(index.body.find("<style"), std::string::npos) << "no inline style";
    EXPECT_EQ(index.body.find(" style="), std::string::npos) << "no style attribute";
  }
  std::string body = client.get("/dashboard/").body;
  std::regex reference(R"re((?:src|href)="(/dashboard/assets/[^"]+)")re");
  int found = 0;
  for (std::sregex_iterator it(body.begin(), body.end(), reference), end; it != end; ++it) {
    ++found;
    http::Response asset = client.get((*it)[1].str());
    EXPECT_EQ(asset.status, 200) << (*it)[1];
    EXPECT_EQ(header(asset, "cache-control"), "public, max-age=31536000, immutable") << (*it)[1];
  }
  EXPECT_GE(found, 2) << "a script and a stylesheet: " << body;
  for (const char* path : {"/dashboard/manifest.webmanifest", "/dashboard/sw.js", "/dashboard/icon.svg"}) {
    http::Response file = client.get(path);
    EXPECT_EQ(file.status, 200) << path;
    EXPECT_EQ(header(file, "cache-control"), "no-cache") << path << ": not content-hashed";
  }
  EXPECT_EQ(client.get("/dashboard/manifest.webmanifest").contentType, "application/manifest+json");
}

TEST(Dashboard, EachVariantDecompressesToTheBuiltFile) {
  auto harness = started();
  Client client{*harness};
  const Asset* script = nullptr;
  for (const Asset& asset : embeddedAssets())
    if (asset.path.ends_with(".js") && asset.immutable) script = &asset;
  ASSERT_NE(script, nullptr);
  std::string path = "/dashboard/" + std::string(script->path);

  http::Response brotli = client.get(path, {{"accept-encoding", "gzip, deflate, br"}});
  EXPECT_EQ(header(brotli, "content-encoding"), "br");
  EXPECT_EQ(header(brotli, "vary"), "Accept-Encoding");
  EXPECT_LT(brotli.body.size(), script->identity.size());
  EXPECT_EQ(unbrotli(brotli.body, script->identity.size()), script->identity);

  http::Response gzip = client.get(path, {{"accept-encoding", "gzip"}});
  EXPECT_EQ(header(gzip, "content-encoding"), "gzip");
  EXPECT_EQ(gunzip(gzip.body), script->identity);

  http::Response refused = client.get(path, {{"accept-encoding", "br;q=0, GZIP;q=0"}});
  EXPECT_EQ(header(refused, "content-encoding"), "");
  EXPECT_EQ(refused.body, script->identity);

  http::Response weighted = client.get(path, {{"accept-encoding", "br;q=0, gzip;q=0.5"}});
  EXPECT_EQ(header(weighted, "content-encoding"), "gzip");

  EXPECT_NE(header(brotli, "etag"), header(gzip, "etag")) << "one validator per representation";
  EXPECT_NE(header(gzip, "etag"), header(refused, "etag"));
}

TEST(Dashboard, AKnownValidatorGets304AndAnUnknownFile404) {
  auto harness = started();
  Client client{*harness};
  http::Response first = client.get("/dashboard/", {{"accept-encoding", "gzip"}});
  std::string tag = header(first, "etag");
  ASSERT_FALSE(tag.empty());
  http::Response again =
      client.get("/dashboard/", {{"accept-encoding", "gzip"}, {"if-none-match", "\"other\", W/" + tag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(header(again, "etag"), tag);
  EXPECT_EQ(client.get("/dashboard/", {{"if-none-match", "\"other\""}}).status, 200);

  http::Response missing = client.get("/dashboard/assets/nothing-12345678.js");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.contentType, "application/problem+json");
  EXPECT_EQ(client.get("/dashboard/..%2Fplugin.cpp").status, 404);

  http::Response moved = client.get("/dashboard");
  EXPECT_EQ(moved.status, 308);
  EXPECT_EQ(header(moved, "location"), "/dashboard/");
}

TEST(Dashboard, ServeRootOffLeavesTheRootToOthers) {
  auto section = ConfigNode::map();
  section.set("serve_root", ConfigNode::scalar("false"));
  auto harness = started(std::move(section));
  auto provider = harness->services().get<http::RouteProvider>();
  ASSERT_TRUE(provider.ok());
  auto routes = (*provider)->routes();
  EXPECT_EQ(findRoute(routes, "/"), nullptr);
  EXPECT_NE(findRoute(routes, "/dashboard/"), nullptr);
}

TEST(Dashboard, BadSettingsAreRefusedWithTheirLocation) {
  auto loaded = PluginHarness::loadLibrary(DASHBOARD_PLUGIN);
  ASSERT_TRUE(loaded.ok());
  auto section = ConfigNode::map();
  section.set("serve_root", ConfigNode::scalar("sometimes", {"hive.yaml", 7, 17}));
  section.set("serve_rot", ConfigNode::scalar("true", {"hive.yaml", 8, 5}));
  (*loaded)->setConfig(std::move(section));
  Diagnostics diagnostics = (*loaded)->configure();
  ASSERT_TRUE(diagnostics.hasErrors());
  std::string text = diagnostics.toString();
  EXPECT_NE(text.find("hive.yaml:7:17"), std::string::npos) << text;
  EXPECT_NE(text.find("serve_rot"), std::string::npos) << text;
}

// A hive.auth/1 provider that knows one key, allowed to read tasks only.
class OneKey final : public auth::Authenticator {
 public:
  auth::Decision authorize(const http::Request& request, std::string_view permission) override {
    const std::string* header = request.header("authorization");
    if (header == nullptr || *header != "Bearer reader-key") return {};
    auth::Decision decision;
    decision.principal = "key:reader";
    decision.allowed = permission.empty() || permission == "tasks:read" || permission == "events:read";
    decision.code = StatusCode::kPermissionDenied;
    return decision;
  }
};

http::Response session(PluginHarness& harness, std::vector<http::Header> headers) {
  auto provider = harness.services().get<http::RouteProvider>();
  EXPECT_TRUE(provider.ok());
  http::Request request;
  request.headers = std::move(headers);
  std::optional<http::Response> answer;
  (*provider)->serve("session", std::move(request), [&](http::Response r) { answer = std::move(r); });
  harness.runPending();
  return answer.value_or(http::Response{});
}

TEST(Dashboard, SessionListsEveryPermissionWithoutAnAuthProvider) {
  auto harness = started();
  http::Response answer = session(*harness, {});
  EXPECT_EQ(answer.status, 200);
  EXPECT_NE(answer.body.find("\"auth\":false"), std::string::npos) << answer.body;
  for (std::string_view permission : kPermissions)
    EXPECT_NE(answer.body.find("\"" + std::string(permission) + "\""), std::string::npos) << permission;
  EXPECT_NE(answer.body.find("\"features\":[]"), std::string::npos) << "no other API runs: " << answer.body;
}

// Another plugin's routes, as plain data.
class WorkflowRoutes final : public http::RouteProvider {
 public:
  std::vector<http::Route> routes() override {
    return {{.id = "runs",
             .method = "GET",
             .path = "/api/v2/workflows/runs",
             .permission = "workflows:read",
             .openapi = ""}};
  }
  void serve(std::string_view, http::Request, http::Responder respond) override { respond({}); }
};

TEST(Dashboard, SessionNamesTheViewsWhoseApiRuns) {
  auto harness = started();
  harness->provideFake<http::RouteProvider>(std::make_shared<WorkflowRoutes>(), "workflow_engine");
  http::Response answer = session(*harness, {});
  EXPECT_NE(answer.body.find("\"features\":[\"workflows\"]"), std::string::npos) << answer.body;
}

TEST(Dashboard, SessionAsksTheAuthProviderAboutTheCallersKey) {
  auto harness = started();
  harness->provideFake<auth::Authenticator>(std::make_shared<OneKey>());

  constexpr std::string_view kNobody = R"({"auth":true,"principal":"","permissions":[],"features":[]})";
  http::Response anonymous = session(*harness, {});
  EXPECT_EQ(anonymous.status, 200);
  EXPECT_EQ(anonymous.body, kNobody);
  EXPECT_EQ(session(*harness, {{"authorization", "Bearer wrong"}}).body, kNobody);

  http::Response reader = session(*harness, {{"authorization", "Bearer reader-key"}});
  EXPECT_EQ(reader.status, 200);
  EXPECT_EQ(
      reader.body,
      R"({"auth":true,"principal":"key:reader","permissions":["tasks:read","events:read"],"features":[]})");
  EXPECT_EQ(reader.body.find("reader-key"), std::string::npos) << "the key is never echoed";
}

}  // namespace
}  // namespace hive::dashboard
