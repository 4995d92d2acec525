#include "fixture.hpp"

#include <cstdlib>

#include "plugin.hpp"
#include "scratch_schema.hpp"

namespace hive::task_manager::testing {
namespace {

// The plugin as the kernel would make it, but on the test's clock.
HarnessClock* clockForNextPlugin = nullptr;
class ClockedPlugin final : public TaskManagerPlugin {
 public:
  explicit ClockedPlugin(PluginContext& context) : TaskManagerPlugin(context, *clockForNextPlugin) {}
};

std::vector<std::string> split(const std::string& text, char by = '/') {
  std::vector<std::string> out;
  for (std::size_t at = 0, next; at <= text.size(); at = next + 1) {
    next = text.find(by, at);
    if (next == std::string::npos) next = text.size();
    if (next > at) out.push_back(text.substr(at, next - at));
  }
  return out;
}

// The route the server would pick for `method` `path`, its parameters in `request`.
std::string route(http::RouteProvider& routes, const std::string& method, const std::string& path,
                  http::Request& request) {
  for (const auto& route : routes.routes()) {
    if (route.method != method) continue;
    std::vector<std::string> want = split(route.path), got = split(path.substr(0, path.find('?')));
    if (want.size() != got.size()) continue;
    bool match = true;
    std::map<std::string, std::string, std::less<>> params;
    for (std::size_t i = 0; i < want.size() && match; ++i) {
      if (want[i].front() == '{')
        params[want[i].substr(1, want[i].size() - 2)] = got[i];
      else
        match = want[i] == got[i];
    }
    if (!match) continue;
    // Literal routes are listed before templated ones that could shadow them.
    request.params = params;
    return route.id;
  }
  return {};
}

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

}  // namespace

void TaskManagerTest::loadStore() {
  // The postgres.* tests run the same suite on storage_postgres (a fresh schema each).
  if (environment("HIVE_TASK_MANAGER_TEST_STORE") != "postgres") {
    auto store = PluginHarness::loadLibrary(STORAGE_SQLITE_PLUGIN);
    ASSERT_TRUE(store.ok()) << store.status().toString();
    storeHarness_ = std::move(store).value();
    return;
  }
#ifdef STORAGE_POSTGRES_PLUGIN
  postgresUrl_ = environment("HIVE_TEST_POSTGRES_URL");
  ASSERT_FALSE(postgresUrl_.empty())
      << "HIVE_TEST_POSTGRES_URL is not set: eval \"$(scripts/test-servers start)\"";
  schema_ = freshSchemaName();
  auto store = PluginHarness::loadLibrary(STORAGE_POSTGRES_PLUGIN);
  ASSERT_TRUE(store.ok()) << store.status().toString();
  storeHarness_ = std::move(store).value();
  auto section = ConfigNode::map();
  section.set("url", ConfigNode::scalar(postgresUrl_));
  section.set("schema", ConfigNode::scalar(schema_));
  section.set("pool_size", ConfigNode::scalar("4"));
  storeHarness_->setConfig(std::move(section));
#else
  FAIL() << "built without storage_postgres";
#endif
}

void TaskManagerTest::SetUp() {
  ASSERT_NO_FATAL_FAILURE(loadStore());
  Status storeStarted = storeHarness_->start();
  ASSERT_TRUE(storeStarted.ok()) << storeStarted.toString();
  auto leases = storeHarness_->services().lookup(store::Store::kServiceId);
  ASSERT_EQ(leases.size(), 1u);
  realStore_ = std::static_pointer_cast<store::Store>(leases[0].service);
  store_ = std::make_shared<ClockedStore>(realStore_, clock_);
  clockForNextPlugin = &clock_;
  harness_ = PluginHarness::create<ClockedPlugin>("task_manager", "1.0.0");
  clock_.follow(harness_.get());
  harness_->provideFake<store::Store>(store_, "storage_sqlite");
  harness_->setConfig(config());
  Status started = harness_->start();
  ASSERT_TRUE(started.ok()) << started.toString();
  auto routes = harness_->services().get<http::RouteProvider>();
  ASSERT_TRUE(routes.ok());
  routes_ = *routes;
  auto tasks = harness_->services().get<tasks::TaskService>();
  ASSERT_TRUE(tasks.ok());
  tasks_ = *tasks;
}

void TaskManagerTest::TearDown() {
  routes_ = {};
  tasks_ = {};
  harness_.reset();
  clock_.follow(nullptr);
  store_.reset();
  realStore_.reset();
  storeHarness_.reset();
#ifdef STORAGE_POSTGRES_PLUGIN
  if (!schema_.empty()) dropSchema(postgresUrl_, schema_);
  schema_.clear();
#endif
}

http::Response TaskManagerTest::call(const std::string& method, const std::string& path,
                                     const std::string& body, std::vector<http::Header> headers) {
  http::Request request;
  request.method = method;
  request.path = path;
  request.body = body;
  request.headers = std::move(headers);
  request.principal = principal_;
  request.remoteAddress = remote_;
  std::string routeId = route(*routes_, method, path, request);
  if (auto q = path.find('?'); q != std::string::npos) {
    for (const auto& pair : split(path.substr(q + 1), '&')) {
      auto eq = pair.find('=');
      request.query.emplace_back(pair.substr(0, eq), eq == std::string::npos ? "" : pair.substr(eq + 1));
    }
  }
  EXPECT_FALSE(routeId.empty()) << "no route for " << method << " " << path;
  http::Response response;
  bool answered = false;
  routes_->serve(routeId, std::move(request), [&](http::Response r) {
    response = std::move(r);
    answered = true;
  });
  harness_->runPending();
  EXPECT_TRUE(answered);
  return response;
}

std::string TaskManagerTest::submit(const std::string& body, int expected) {
  auto response = call("POST", "/api/v2/tasks", body);
  EXPECT_EQ(response.status, expected) << response.body;
  if (response.status != 201) return {};
  return std::string(json::parse(response.body).as_object().at("id").as_string());
}

json::object TaskManagerTest::task(const std::string& id) {
  auto response = call("GET", "/api/v2/tasks/" + id);
  EXPECT_EQ(response.status, 200) << response.body;
  return json::parse(response.body).as_object();
}

std::vector<tasks::Assignment> TaskManagerTest::claim(const std::string& agent,
                                                      std::vector<std::string> capabilities,
                                                      std::size_t max) {
  auto claimed = tasks_->claim(agent, capabilities, max);
  EXPECT_TRUE(claimed.ok()) << claimed.status().toString();
  return claimed.ok() ? *claimed : std::vector<tasks::Assignment>{};
}

std::vector<store::Event> TaskManagerTest::eventLog() {
  auto log = realStore_->read("tasks", 0, 100);
  EXPECT_TRUE(log.ok()) << log.status().toString();
  return log.ok() ? *log : std::vector<store::Event>{};
}

}  // namespace hive::task_manager::testing
