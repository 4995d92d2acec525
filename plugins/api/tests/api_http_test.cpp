// The api plugin over real sockets: routing from a provider plugin, problem
// details, CORS, request ids, auth, kernel routes, table rebuilds on
// load/swap/unload, and the OpenAPI document (linted with @redocly/cli).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api_host.hpp"

namespace hive::api_test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

TEST(ApiHttp, RoutesParamsQueryAndLiteralSegmentsBeforeParameters) {
  ApiHost api;
  ASSERT_TRUE(api.start()) << api.problem();
  EXPECT_THAT(api.log(), HasSubstr("api listening on 127.0.0.1:" + std::to_string(api.port())));

  auto hello = request(api.port(), "GET", "/test/hello");
  EXPECT_EQ(hello.status, 200);
  EXPECT_EQ(hello.body, R"({"hello":"world","build":"v1"})");
  EXPECT_EQ(hello.header("content-type"), "application/json");

  auto item = request(api.port(), "GET", "/test/items/a%20b?x=1&y=two+words&x=3");
  EXPECT_EQ(item.status, 200);
  EXPECT_THAT(item.body, HasSubstr(R"("id":"a b")"));
  EXPECT_THAT(item.body, HasSubstr(R"("query":{"x":"1","y":"two words","x":"3"})"));
  EXPECT_THAT(item.body, HasSubstr(R"("path":"/test/items/a b")"));

  auto stats = request(api.port(), "GET", "/test/items/stats");
  EXPECT_EQ(stats.body, R"({"stats":true})");

  auto removed = request(api.port(), "DELETE", "/test/items/7");
  EXPECT_EQ(removed.status, 204);
  EXPECT_EQ(removed.body, "");

  auto async = request(api.port(), "GET", "/test/async");
  EXPECT_EQ(async.status, 200);
  EXPECT_EQ(async.body, R"({"async":true})");
}

TEST(ApiHttp, UnknownPathsAndMethodsAreProblemDetails) {
  ApiHost api;
  ASSERT_TRUE(api.start()) << api.problem();

  auto missing = request(api.port(), "GET", "/nowhere");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.header("content-type"), "application/problem+json");
  EXPECT_THAT(missing.body, HasSubstr(R"("status":404)"));
  EXPECT_THAT(missing.body, HasSubstr(R"("title":"Not Found")"));

  auto wrongMethod = request(api.port(), "PUT", "/test/items/1", "", "{}");
  EXPECT_EQ(wrongMethod.status, 405);
  EXPECT_EQ(wrongMethod.header("allow"), "GET, DELETE, HEAD, OPTIONS");
  EXPECT_EQ(wrongMethod.header("content-type"), "application/problem+json");

  auto badEscape = request(api.port(), "GET", "/test/items/%zz");
  EXPECT_EQ(badEscape.status, 400);
  EXPECT_EQ(badEscape.header("content-type"), "application/problem+json");

  auto invalid = request(api.port(), "POST", "/test/json", "Content-Type: application/json\r\n", "{\"a\":");
  EXPECT_EQ(invalid.status, 422);
  EXPECT_THAT(invalid.body, HasSubstr(R"("errors":[{"field":"/")"));
}

// A provider that hands a Status to http::problem() gets the canonical code as
// title ("NOT_FOUND"); the client sees the status's phrase as title (RFC 9457
// about:blank) and the code in its own member. A provider's own problem type
// keeps its title.
TEST(ApiHttp, ProblemTitlesAreStatusPhrasesWithTheCodeApart) {
  ApiHost api;
  ASSERT_TRUE(api.start()) << api.problem();

  auto missing = request(api.port(), "GET", "/test/status/missing");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.header("content-type"), "application/problem+json");
  EXPECT_EQ(
      missing.body,
      R"({"type":"about:blank","title":"Not Found","status":404,"detail":"no item 7","code":"NOT_FOUND"})");
  auto invalid = request(api.port(), "GET", "/test/status/invalid");
  EXPECT_EQ(invalid.status, 422);
  EXPECT_THAT(invalid.body, HasSubstr(R"("title":"Unprocessable Content")"));
  EXPECT_THAT(invalid.body, HasSubstr(R"("code":"INVALID_ARGUMENT")"));
  EXPECT_THAT(invalid.body, HasSubstr(R"("detail":"priority out of range")"));
  auto conflict = request(api.port(), "GET", "/test/status/conflict");
  EXPECT_EQ(conflict.status, 409);
  EXPECT_THAT(conflict.body, HasSubstr(R"("title":"Conflict")"));
  EXPECT_THAT(conflict.body, HasSubstr(R"("code":"FAILED_PRECONDITION")"));

  auto own = request(api.port(), "GET", "/test/status/own");
  EXPECT_EQ(own.status, 409);
  EXPECT_EQ(
      own.body,
      R"({"type":"https://hive.example/problems/finished","title":"Task Already Finished","status":409,)"
      R"("detail":"task 7 finished at 12:00"})");
}

// HEAD is answered by the GET route with the same head and no body, so that a
// keep-alive connection stays framed.
TEST(ApiHttp, HeadAnswersTheGetHeadWithoutABody) {
  ApiHost api;
  ASSERT_TRUE(api.start()) << api.problem();
  auto get = request(api.port(), "GET", "/health");
  ASSERT_EQ(get.status, 200);

  RawConnection connection(api.port());
  ASSERT_TRUE(connection.ok());
  ASSERT_TRUE(
      connection.send("HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
  HttpReply head = connection.read();
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), get.header("content-length"));
  EXPECT_EQ(head.header("content-type"), "application/json");
  // The reader takes Content-Length bytes as the body: what it got must be the
  // start of the next response, not a body.
  EXPECT_THAT(head.body, StartsWith("HTTP/1.1 200"));
}

TEST(ApiHttp, AProviderFailureIsA500WithTheRequestIdAndNoInternals) {
  ApiHost api;
  ASSERT_TRUE(api.start()) << api.problem();

  auto dropped = request(api.port(), "GET", "/test/drop", "X-Request-Id: drop-1\r\n");
  EXPECT_EQ(dropped.status, 500);
  EXPECT_EQ(dropped.body,
            R"({"type":"about:blank","title":"Internal Server Error","status":500,"requestId":"drop-1"})");

  auto injected = request(api.port(), "GET", "/test/badheader");
  EXPECT_EQ(injected.status, 500);
  EXPECT_EQ(injected.header("set-cookie"), "");
  EXPECT_EQ(injected.header("x-evil"), "");
  EXPECT_THAT(api.log(), HasSubstr("CR/LF in a header refused"));
}

TEST(ApiHttp, RequestIdIsGeneratedOrEchoedAndTraceparentPassesThrough) {
  ApiHost api;
  ASSERT_TRUE(api.start()) << api.problem();

  auto generated = request(api.port(), "GET", "/test/items/1");
  std::string id = generated.header("x-request-id");
  EXPECT_EQ(id.size(), 32u);
  EXPECT_THAT(generated.body, HasSubstr("\"requestId\":\"" + id + "\""));
  EXPECT_NE(request(api.port(), "GET", "/test/items/1").header("x-request-id"), id);

  const std::string trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto echoed =
      request(api.port(), "GET", "/test/items/1", "X-Request-Id: abc-123\r\ntraceparent: " + trace + "\r\n");
  EXPECT_EQ(echoed.header("x-request-id"), "abc-123");
  EXPECT_EQ(echoed.header("traceparent"), trace);

  // An id that would not be safe to echo is replaced, a malformed traceparent dropped.
  auto unsafe =
      request(api.port(), "GET", "/test/items/1", "X-Request-Id: a b<c>\r\ntraceparent: nonsense\r\n");
  EXPECT_EQ(unsafe.header("x-request-id").size(), 32u);
  EXPECT_EQ(unsafe.header("traceparent"), "");

  auto log = api.log();
  EXPECT_THAT(
      log, HasSubstr("access method=\"GET\" path=\"/test/items/1\" route=\"/test/items/{id}\" status=200"));
  EXPECT_THAT(log, HasSubstr("request_id=abc-123"));
}

TEST(ApiHttp, CorsPreflightAndAllowedOrigins) {
  HostOptions options;
  options.api = {{"cors", mapOf({{"allow_origins", listOf({"https://app.example.com"})}})}};
  ApiHost api(options);
  ASSERT_TRUE(api.start()) << api.problem();

  auto preflight = request(api.port(), "OPTIONS", "/test/items/1",
                           "Origin: https://app.example.com\r\nAccess-Control-Request-Method: DELETE\r\n"
                           "Access-Control-Request-Headers: content-type\r\n");
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(preflight.header("access-control-allow-origin"), "https://app.example.com");
  EXPECT_EQ(preflight.header("access-control-allow-methods"), "GET, DELETE, HEAD, OPTIONS");
  EXPECT_EQ(preflight.header("access-control-allow-headers"), "content-type");
  EXPECT_EQ(preflight.header("vary"), "Origin");

  auto simple = request(api.port(), "GET", "/test/hello", "Origin: https://app.example.com\r\n");
  EXPECT_EQ(simple.header("access-control-allow-origin"), "https://app.example.com");

  auto foreign = request(api.port(), "OPTIONS", "/test/items/1",
                         "Origin: https://evil.example.com\r\nAccess-Control-Request-Method: DELETE\r\n");
  EXPECT_EQ(foreign.status, 204);
  EXPECT_EQ(foreign.header("access-control-allow-origin"), "");
  EXPECT_EQ(foreign.header("access-control-allow-methods"), "");
  EXPECT_EQ(request(api.port(), "GET", "/test/hello", "Origin: https://evil.example.com\r\n")
                .header("access-control-allow-origin"),
            "");
}

TEST(ApiHttp, TheAuthHookAnswers401And403AndNamesThePrincipal) {
  HostOptions options;
  options.auth = true;
  ApiHost api(options);
  ASSERT_TRUE(api.start()) << api.problem();

  auto anonymous = request(api.port(), "GET", "/test/secret");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(anonymous.header("content-type"), "application/problem+json");
  EXPECT_EQ(anonymous.header("www-authenticate"), "Bearer");
  auto weak = request(api.port(), "GET", "/test/secret", "Authorization: Bearer weak\r\n");
  EXPECT_EQ(weak.status, 403);
  EXPECT_THAT(weak.body, HasSubstr("missing test.read"));
  auto good = request(api.port(), "GET", "/test/secret", "Authorization: Bearer good\r\n");
  EXPECT_EQ(good.status, 200);
  EXPECT_EQ(good.body, R"({"principal":"tester"})");
  EXPECT_EQ(request(api.port(), "GET", "/test/hello").status, 200) << "public routes need no credentials";
  // "plugin:..." is how a plugin acts for a tenant in process: no HTTP caller gets it.
  auto impostor = request(api.port(), "GET", "/test/secret", "Authorization: Bearer impostor\r\n");
  EXPECT_EQ(impostor.status, 401);
  EXPECT_THAT(impostor.body, Not(HasSubstr("plugin:")));
}

TEST(ApiHttp, ANonLoopbackListenWithoutAnAuthenticatorIsRefused) {
  HostOptions options;
  options.withRoutes = false;
  options.api = {{"listen", scalar("0.0.0.0:0")}};
  ApiHost api(options);
  EXPECT_FALSE(api.start());
  EXPECT_THAT(api.problem(), HasSubstr("non-loopback address, while no hive.auth/1 provider is running"));
}

TEST(ApiHttp, BadSettingsAreReportedWithTheirKeys) {
  HostOptions options;
  options.api = {{"listen", scalar("nowhere")},
                 {"limits", mapOf({{"body_bytes", scalar("-1")}, {"header_timout", scalar("1s")}})}};
  ApiHost api(options);
  EXPECT_FALSE(api.start());
  EXPECT_THAT(api.problem(), HasSubstr("'listen': expected HOST:PORT, got 'nowhere'"));
  EXPECT_THAT(api.problem(), HasSubstr("'body_bytes': must be between 0 and"));
  EXPECT_THAT(api.problem(), HasSubstr("unknown key 'header_timout' (did you mean 'header_timeout'?)"));
}

TEST(ApiHttp, TheRoutingTableFollowsProvidersAcrossSwapAndUnload) {
  ApiHost api;
  ASSERT_TRUE(api.start()) << api.problem();
  EXPECT_EQ(request(api.port(), "GET", "/test/v2only").status, 404);

  Status swapped = api.swap("api_test_routes", kTestPlugins / "api_test_routes_v2-1.1.0.so");
  ASSERT_TRUE(swapped.ok()) << swapped.toString();
  auto v2 = request(api.port(), "GET", "/test/v2only");
  EXPECT_EQ(v2.status, 200);
  EXPECT_EQ(request(api.port(), "GET", "/test/hello").body, R"({"hello":"world","build":"v2"})");

  swapped = api.swap("api_test_routes", kTestPlugins / "api_test_routes-1.0.0.so");
  ASSERT_TRUE(swapped.ok()) << swapped.toString();
  EXPECT_EQ(request(api.port(), "GET", "/test/v2only").status, 404);
  EXPECT_EQ(request(api.port(), "GET", "/test/hello").body, R"({"hello":"world","build":"v1"})");

  ASSERT_TRUE(api.host().unload("api_test_routes").ok());
  EXPECT_EQ(request(api.port(), "GET", "/test/hello").status, 404);
  EXPECT_EQ(request(api.port(), "GET", "/livez").status, 200);
}

TEST(ApiHttp, HealthAndAdminRoutesUseTheKernelService) {
  HostOptions options;
  options.admin = true;
  ApiHost api(options);
  ASSERT_TRUE(api.start()) << api.problem();

  auto health = request(api.port(), "GET", "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_THAT(health.body, HasSubstr(R"("status":"ok")"));
  EXPECT_THAT(health.body, HasSubstr(R"({"name":"api","version":"1.0.0","state":"running","generation":)"));
  EXPECT_EQ(request(api.port(), "GET", "/livez").status, 200);
  auto ready = request(api.port(), "GET", "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_THAT(ready.body, HasSubstr(R"("phase":"ready")"));

  const std::string token = api.tokenHeader();
  auto plugins = request(api.port(), "GET", "/api/v2/admin/plugins", token);
  EXPECT_EQ(plugins.status, 200);
  EXPECT_THAT(plugins.body, HasSubstr(R"("name":"api_test_routes")"));
  auto one = request(api.port(), "GET", "/api/v2/admin/plugins/api_test_routes", token);
  EXPECT_EQ(one.status, 200);
  EXPECT_THAT(one.body, HasSubstr(R"("provides":["hive.routes/1"])"));
  auto none = request(api.port(), "GET", "/api/v2/admin/plugins/nothing", token);
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(none.header("content-type"), "application/problem+json");

  auto reload = request(api.port(), "POST", "/api/v2/admin/plugins/api_test_routes/reload", token);
  EXPECT_EQ(reload.status, 200) << reload.body;
  // api's own reload is always asynchronous (202 and a Location from the
  // kernel's hive.admin/1); this test kernel has no startReload(): 501.
  auto self = request(api.port(), "POST", "/api/v2/admin/plugins/api/reload", token);
  EXPECT_EQ(self.status, 501) << self.body;
  auto config = request(api.port(), "POST", "/api/v2/admin/config/reload", token);
  EXPECT_EQ(config.status, 409);
  EXPECT_THAT(config.body, HasSubstr("no config file"));
  EXPECT_EQ(request(api.port(), "GET", "/api/v2/admin/plugins", token).status, 200);
}

TEST(ApiHttp, WithoutTheKernelServiceAdminRoutesAre503AndHealthStillAnswers) {
  HostOptions options;
  options.withRoutes = false;
  ApiHost api(options);
  ASSERT_TRUE(api.start()) << api.problem();
  bool kernelProvidesAdmin = !api.host().services().lookup({"hive.admin", 1}).empty();
  if (kernelProvidesAdmin) GTEST_SKIP() << "the kernel provides hive.admin/1 itself now";
  EXPECT_EQ(request(api.port(), "GET", "/health").status, 200);
  auto plugins = request(api.port(), "GET", "/api/v2/admin/plugins", api.tokenHeader());
  EXPECT_EQ(plugins.status, 503);
  EXPECT_EQ(plugins.header("content-type"), "application/problem+json");
  EXPECT_EQ(request(api.port(), "GET", "/readyz").status, 503);
}

// Without a hive.auth/1 provider the admin routes need the local token, which
// the api writes 0600 under its data dir and keeps across swaps; the other
// routes stay open on loopback unless `local_token: writes`.
TEST(ApiHttp, WithoutAnAuthProviderAdminRoutesNeedTheLocalToken) {
  HostOptions options;
  options.admin = true;
  ApiHost api(options);
  ASSERT_TRUE(api.start()) << api.problem();
  const fs::path file = api.dataDir() / "api" / "local_token";
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  const std::string token = api.localToken();
  EXPECT_EQ(token.size(), 64u);
  if (::geteuid() == 0) {
    // Another OS user (nobody) cannot read it: what keeps it from every local user.
    pid_t child = ::fork();
    if (child == 0) {
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
      int fd = ::open(file.c_str(), O_RDONLY);
      ::_exit(fd < 0 && errno == EACCES ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "nobody could read " << file;
  }

  auto refused = request(api.port(), "GET", "/api/v2/admin/plugins");
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(refused.header("www-authenticate"), "Bearer");
  EXPECT_THAT(refused.body, HasSubstr(file.string()));
  EXPECT_EQ(request(api.port(), "POST", "/api/v2/admin/plugins/api_test_routes/reload").status, 401);
  std::string wrong = token;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  EXPECT_EQ(
      request(api.port(), "GET", "/api/v2/admin/plugins", "Authorization: Bearer " + wrong + "\r\n").status,
      401);
  EXPECT_EQ(request(api.port(), "GET", "/api/v2/admin/plugins", "Authorization: " + token + "\r\n").status,
            401);
  EXPECT_EQ(request(api.port(), "GET", "/api/v2/admin/plugins", api.tokenHeader()).status, 200);
  EXPECT_EQ(request(api.port(), "GET", "/test/items/1").status, 200) << "a route outside admin:* stays open";
  EXPECT_EQ(request(api.port(), "GET", "/health").status, 200);
  EXPECT_THAT(api.log(), Not(HasSubstr(token))) << "the token is never logged";

  // A swap of api keeps the token.
  ASSERT_TRUE(api.host().reload("api").ok());
  EXPECT_EQ(api.localToken(), token);
  EXPECT_EQ(request(api.port(), "GET", "/api/v2/admin/plugins", api.tokenHeader()).status, 200);
}

TEST(ApiHttp, AnUnsafeTokenFileIsReplacedAndWritesScopeCoversStateChanges) {
  HostOptions options;
  options.admin = true;
  options.api = {{"local_token", scalar("writes")}};
  ApiHost first(options);
  ASSERT_TRUE(first.start()) << first.problem();
  const fs::path file = first.dataDir() / "api" / "local_token";
  const std::string token = first.localToken();
  EXPECT_EQ(request(first.port(), "POST", "/test/guarded", {}, "{}").status, 401) << "a POST needs the token";
  EXPECT_EQ(request(first.port(), "GET", "/test/secret").status, 200) << "a GET does not";
  auto allowed = request(first.port(), "POST", "/test/guarded", first.tokenHeader(), "{}");
  EXPECT_EQ(allowed.status, 200);
  EXPECT_THAT(allowed.body, HasSubstr(R"("principal":"local-token")"));
  first.stop();

  // Readable by others: not trusted, a new token replaces it.
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  ASSERT_TRUE(first.start()) << first.problem();
  EXPECT_NE(first.localToken(), token);
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_THAT(first.log(), HasSubstr("a new local token replaces the old one"));
}

// A token that cannot be written (here a directory stands where the file
// goes) does not take the API down: the other routes serve, the admin ones
// answer 503, and the log says why.
TEST(ApiHttp, WithoutAWritableTokenTheAdminRoutesAre503AndTheRestServes) {
  HostOptions options;
  options.admin = true;
  ApiHost api(options);
  fs::create_directories(api.dataDir() / "api" / "local_token");
  ASSERT_TRUE(api.start()) << api.problem();
  auto refused = request(api.port(), "GET", "/api/v2/admin/plugins");
  EXPECT_EQ(refused.status, 503);
  EXPECT_THAT(refused.body, HasSubstr("could not be written at start"));
  EXPECT_EQ(request(api.port(), "GET", "/test/items/1").status, 200);
  EXPECT_THAT(api.log(), HasSubstr("no local token, the admin routes answer 503"));
}

TEST(ApiHttp, TheOpenApiDocumentPassesRedoclyLint) {
  ApiHost api;
  ASSERT_TRUE(api.start()) << api.problem();
  auto document = request(api.port(), "GET", "/api/v2/openapi.json");
  ASSERT_EQ(document.status, 200);
  EXPECT_THAT(document.body, HasSubstr(R"("openapi":"3.1.0")"));
  EXPECT_THAT(document.body, HasSubstr(R"("/test/items/{id}")"));
  EXPECT_THAT(document.body, HasSubstr(R"("/api/v2/admin/plugins/{name}/reload")"));
  EXPECT_THAT(document.body, HasSubstr(R"("TestItem")"));

  fs::path redocly = fs::path(HIVE_API_NPM_DIR) / "node_modules" / ".bin" / "redocly";
  if (std::system("command -v npm > /dev/null 2>&1") != 0) GTEST_SKIP() << "npm is not installed";
  if (!fs::exists(redocly)) {
    std::string install =
        "npm install --silent --prefix '" + std::string(HIVE_API_NPM_DIR) + "' @redocly/cli > /dev/null 2>&1";
    ASSERT_EQ(std::system(install.c_str()), 0) << "npm install @redocly/cli failed";
  }
  fs::path file = api.dataDir() / "openapi.json";
  {
    std::ofstream out(file);
    out << document.body;
  }
  fs::path report = api.dataDir() / "lint.txt";
  std::string command = "'" + redocly.string() + "' lint --format=stylish '" + file.string() + "' > '" +
                        report.string() + "' 2>&1";
  int result = std::system(command.c_str());
  EXPECT_EQ(result, 0) << readFile(report);
  EXPECT_THAT(readFile(report), Not(HasSubstr("error")));
}

}  // namespace
}  // namespace hive::api_test
