// The workflow engine with the real storage_sqlite, communication_engine and
// task_manager plugins, loaded from their .so files through the SDK harness.
// The test plays the agent through hive.tasks/1 (claim, report).
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <optional>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "hive/services/bus.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tasks.hpp"
#include "hive/services/tenancy.hpp"
#include "hive/testing/harness.hpp"
#include "hive/testing/memory_bus.hpp"
#include "hive/testing/routes.hpp"
#include "plugin_common/clock.hpp"
#include "plugin_common/switched_gate.hpp"
#include "plugin_common/test_tenancy.hpp"
#include "retention.hpp"
#include "scheduler.hpp"
#include "task_gateway.hpp"
#include "workflow_plugin.hpp"

namespace hive::workflow_engine {
namespace {

namespace json = boost::json;
using hive::testing::PluginHarness;

constexpr const char* kDiamond = R"({"name": "diamond",
 "params": {"start": {"type": "integer", "default": 1}},
 "steps": [
   {"name": "a", "task": {"type": "echo", "capabilities": ["shell"], "payload": {"n": "${params.start}"}}},
   {"name": "b", "depends_on": ["a"], "task": {"type": "echo", "capabilities": ["shell"], "payload": {"n": "${steps.a.result.n}"}}},
   {"name": "c", "depends_on": ["a"], "task": {"type": "echo", "capabilities": ["shell"], "payload": {"n": "${steps.a.result.n}"}}},
   {"name": "d", "depends_on": ["b", "c"], "task": {"type": "echo", "capabilities": ["shell"],
     "payload": {"from_b": "${steps.b.result.n}", "from_c": "${steps.c.result.n}"}}}],
 "outputs": {"last": "${steps.d.result}"}})";

class WorkflowEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bus_ = load(COMMUNICATION_ENGINE_PLUGIN);
    ASSERT_TRUE(bus_->start().ok());
    store_ = loadStore();
    startTasks();
    startEngine();
  }

  void TearDown() override {
    stopEngine();
    tasks_.reset();
    store_.reset();
    bus_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((databasePath_ + suffix).c_str());
  }

  // storage_sqlite on one file for the whole test, so that a second instance
  // (a swap) sees the same data.
  std::unique_ptr<PluginHarness> loadStore() {
    auto store = load(STORAGE_SQLITE_PLUGIN);
    store->setConfig(
        hive::testing::configFromPairs({{"path", databasePath_}, {"max_document_bytes", maxDocumentBytes_}}));
    Status started = store->start();
    EXPECT_TRUE(started.ok()) << started.toString();
    return store;
  }

  void startTasks() {
    tasks_.reset();
    tasks_ = load(TASK_MANAGER_PLUGIN);
    tasks_->provideFake<store::Store>(lookup<store::Store>(*store_), "storage_sqlite");
    tasks_->provideFake<bus::Bus>(lookup<bus::Bus>(*bus_), "communication_engine");
    tasks_->setConfig(hive::testing::configFromPairs({{"retry_base", "1ms"}, {"retry_max", "2ms"}}));
    Status started = tasks_->start();
    ASSERT_TRUE(started.ok()) << started.toString();
  }

  // The harness runs posted work only when told: let the engine finish what it
  // started (answers from task_manager included) before it is stopped.
  void stopEngine() {
    if (!engine_) return;
    engine_->plugin().beginDrain();
    EXPECT_TRUE(until([&] { return engine_->plugin().drained(); }));
    engine_.reset();
  }

  // (Re)starts the engine on the same store, bus and tasks: a restart.
  enum class Build { kLinked, kSharedLibrary };
  void startEngine(Build build = Build::kLinked) {
    stopEngine();
    engine_ = build == Build::kLinked
                  ? PluginHarness::create<WorkflowEnginePlugin>("workflow_engine", "1.0.0")
                  : load(WORKFLOW_ENGINE_PLUGIN);
    engine_->provideFake<store::Store>(lookup<store::Store>(*store_), "storage_sqlite");
    engine_->provideFake<bus::Bus>(lookup<bus::Bus>(*bus_), "communication_engine");
    engine_->provideFake<tasks::TaskService>(lookup<tasks::TaskService>(*tasks_), "task_manager");
    engine_->provideFake<http::RouteProvider>(lookup<http::RouteProvider>(*tasks_), "task_manager");
    engine_->setConfig(hive::testing::configFromPairs({{"reconcile_period", "100ms"}}));
    Status started = engine_->start();
    ASSERT_TRUE(started.ok()) << started.toString();
  }

  static std::unique_ptr<PluginHarness> load(const char* path) {
    auto loaded = PluginHarness::loadLibrary(path);
    EXPECT_TRUE(loaded.ok()) << loaded.status().toString();
    return std::move(loaded).value();
  }

  template <class T>
  static std::shared_ptr<T> lookup(PluginHarness& harness) {
    auto leases = harness.services().lookup(T::kServiceId);
    EXPECT_FALSE(leases.empty());
    return std::static_pointer_cast<T>(leases.front().service);
  }

  // Runs what the plugins posted until `done` holds (bounded).
  template <class F>
  bool until(F done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (engine_) engine_->runPending();
      tasks_->runPending();
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return done();
  }

  // One request through the engine's routes, as the api plugin would make it.
  http::Response call(std::string_view method, std::string target, std::string body = {},
                      std::vector<http::Header> headers = {}) {
    hive::testing::RouteClient client(engine_->services(), "workflow_engine");
    return through(client, method, std::move(target), std::move(body), std::move(headers));
  }
  // The same through task_manager's own routes.
  json::object callTasks(std::string_view method, std::string target, int status) {
    hive::testing::RouteClient client(lookup<http::RouteProvider>(*tasks_));
    http::Response response = through(client, method, target);
    EXPECT_EQ(response.status, status) << method << " " << target << ": " << response.body;
    std::error_code ec;
    json::value parsed = json::parse(response.body, ec);
    return parsed.is_object() ? parsed.get_object() : json::object{};
  }
  http::Response through(hive::testing::RouteClient& client, std::string_view method, std::string target,
                         std::string body = {}, std::vector<http::Header> headers = {}) {
    std::atomic<bool> answered = false;
    Result<http::Response> response = unavailable("no answer");
    std::thread caller([&] {
      response = client.request(method, target, std::move(body), std::move(headers));
      answered = true;
    });
    until([&] { return answered.load(); });
    caller.join();
    EXPECT_TRUE(response.ok()) << response.status().toString();
    return response.ok() ? *response : http::Response{};
  }

  json::object callJson(std::string_view method, std::string target, int status, std::string body = {}) {
    http::Response response = call(method, target, std::move(body));
    EXPECT_EQ(response.status, status) << method << " " << target << ": " << response.body;
    std::error_code ec;
    json::value parsed = json::parse(response.body, ec);
    return parsed.is_object() ? parsed.get_object() : json::object{};
  }

  std::string startDiamond(std::string params = "{}") {
    callJson("POST", "/api/v2/workflows", 201, kDiamond);
    json::object run =
        callJson("POST", "/api/v2/workflows/diamond/runs", 201, "{\"params\": " + params + "}");
    return std::string(run["id"].as_string());
  }

  json::object run(const std::string& id) { return callJson("GET", "/api/v2/workflows/runs/" + id, 200); }
  std::string runStatus(const std::string& id) { return std::string(run(id)["status"].as_string()); }
  json::object stepOf(const std::string& id, std::string_view name) {
    json::object current = run(id);
    for (auto& step : current["steps"].as_array())
      if (step.as_object().at("name").as_string() == name) return step.as_object();
    return {};
  }

  // The agent: claims what is there and answers with {"n": payload.n + 1}.
  std::vector<tasks::Assignment> claim() {
    auto service = lookup<tasks::TaskService>(*tasks_);
    auto claimed = service->claim("agent-1", {"shell"}, 16);
    EXPECT_TRUE(claimed.ok()) << claimed.status().toString();
    for (auto& assignment : *claimed) {
      EXPECT_TRUE(service->started(assignment.taskId, assignment.leaseToken).ok());
      claimedTasks_.insert(assignment.taskId);
      payloads_.push_back(json::parse(assignment.payload));
    }
    return claimed.ok() ? *claimed : std::vector<tasks::Assignment>{};
  }
  void succeed(const tasks::Assignment& assignment) {
    auto service = lookup<tasks::TaskService>(*tasks_);
    json::value payload = json::parse(assignment.payload);
    std::int64_t n = payload.as_object().contains("n") ? payload.at("n").to_number<std::int64_t>() : 100;
    std::string result = json::serialize(json::object{{"n", n + 1}, {"seen", payload}});
    Status done = service->succeeded(assignment.taskId, assignment.leaseToken, result);
    EXPECT_TRUE(done.ok()) << done.toString();
  }
  // Claims and succeeds every task until the run leaves `running`.
  void work(const std::string& runId) {
    EXPECT_TRUE(until(
        [&] {
          for (auto& assignment : claim()) succeed(assignment);
          return runStatus(runId) != "running";
        },
        std::chrono::seconds(20)));
  }

  std::string databasePath_ = ::testing::TempDir() + "workflow-engine-test-" + std::to_string(::getpid()) +
                              "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db";
  std::unique_ptr<PluginHarness> bus_, store_, tasks_, engine_;
  std::set<std::string> claimedTasks_;
  std::string maxDocumentBytes_ = "1048576";
  std::vector<json::value> payloads_;
};

using plugin_common::SwitchedGate;

using plugin_common::TenantsByName;

// Workflows, runs and schedules are their tenant's: a name is per tenant,
// another tenant's run or schedule is "not found", a run's tasks are its
// tenant's (only that tenant's agents take them), and so is its
// Idempotency-Key.
TEST_F(WorkflowEngineTest, WorkflowsRunsSchedulesAndTheirTasksBelongToTheTenantThatMadeThem) {
  auto tenancy = std::make_shared<TenantsByName>();
  engine_->provideFake<tenancy::Tenancy>(tenancy, "security_manager");
  tasks_->provideFake<tenancy::Tenancy>(tenancy, "security_manager");
  auto as = [&](const std::string& principal, std::string_view method, const std::string& target, int status,
                std::string body = {}, std::vector<http::Header> headers = {}) {
    hive::testing::RouteClient client(engine_->services(), "workflow_engine", {.principal = principal});
    http::Response response = through(client, method, target, std::move(body), std::move(headers));
    EXPECT_EQ(response.status, status)
        << principal << " " << method << " " << target << ": " << response.body;
    std::error_code ec;
    json::value parsed = json::parse(response.body, ec);
    return parsed.is_object() ? parsed.get_object() : json::object{};
  };
  auto ids = [](const json::object& page) {
    std::set<std::string> out;
    for (const auto& item : page.at("items").as_array()) {
      const json::object& o = item.as_object();
      out.insert(std::string(o.contains("id") ? o.at("id").as_string() : o.at("name").as_string()));
    }
    return out;
  };

  // One name, two tenants: two workflows, each at version 1; none for the default tenant.
  EXPECT_EQ(as("acme", "POST", "/api/v2/workflows", 201, kDiamond)["version"], 1);
  EXPECT_EQ(as("globex", "POST", "/api/v2/workflows", 201, kDiamond)["version"], 1);
  EXPECT_EQ(as("acme", "GET", "/api/v2/workflows/diamond", 200)["tenant"], "acme");
  as("", "GET", "/api/v2/workflows/diamond", 404);
  as("", "POST", "/api/v2/workflows/diamond/runs", 404, R"({"params": {"start": 1}})");
  EXPECT_EQ(ids(as("initech", "GET", "/api/v2/workflows", 200)).size(), 0u);
  EXPECT_EQ(as("admin", "GET", "/api/v2/workflows", 200)["items"].as_array().size(), 2u);
  EXPECT_EQ(as("admin", "GET", "/api/v2/workflows?tenant=globex", 200)["items"].as_array().size(), 1u);

  // Runs: the same Idempotency-Key in two tenants starts two runs, and again in one replays its run.
  const std::vector<http::Header> key{{"idempotency-key", "nightly-1"}};
  json::object acmeRun =
      as("acme", "POST", "/api/v2/workflows/diamond/runs", 201, R"({"params": {"start": 1}})", key);
  json::object globexRun =
      as("globex", "POST", "/api/v2/workflows/diamond/runs", 201, R"({"params": {"start": 5}})", key);
  const std::string acme(acmeRun["id"].as_string()), globex(globexRun["id"].as_string());
  EXPECT_NE(acme, globex);
  EXPECT_EQ(acmeRun["tenant"], "acme");
  EXPECT_EQ(
      as("acme", "POST", "/api/v2/workflows/diamond/runs", 200, R"({"params": {"start": 1}})", key)["id"],
      json::value(acme));
  as("acme", "POST", "/api/v2/workflows/diamond/runs", 422, "{}", {{"idempotency-key", "~mine"}});

  // Another tenant's run is not found, whatever the route.
  for (const std::string& target :
       {"/api/v2/workflows/runs/" + acme, "/api/v2/workflows/diamond/runs/" + acme})
    as("globex", "GET", target, 404);
  for (const char* action : {"cancel", "pause", "resume", "retry"})
    as("globex", "POST", "/api/v2/workflows/runs/" + acme + "/" + action, 404);
  EXPECT_EQ(ids(as("globex", "GET", "/api/v2/workflows/runs", 200)), std::set<std::string>{globex});
  EXPECT_EQ(ids(as("globex", "GET", "/api/v2/workflows/diamond/runs", 200)), std::set<std::string>{globex});
  EXPECT_EQ(ids(as("", "GET", "/api/v2/workflows/runs", 200)).size(), 0u);
  EXPECT_EQ(ids(as("admin", "GET", "/api/v2/workflows/runs", 200)), (std::set<std::string>{acme, globex}));
  EXPECT_EQ(ids(as("admin", "GET", "/api/v2/workflows/runs?tenant=acme", 200)), std::set<std::string>{acme});
  EXPECT_EQ(as("admin", "GET", "/api/v2/workflows/runs/" + acme, 200)["tenant"], json::value("acme"));

  // Its tasks are acme's: an agent of no tenant takes none; acme's agent runs the whole diamond.
  auto service = lookup<tasks::TaskService>(*tasks_);
  auto tasksOf = [&](const std::string& principal) {
    hive::testing::RouteClient client(lookup<http::RouteProvider>(*tasks_), {.principal = principal});
    return json::parse(through(client, "GET", "/api/v2/tasks?limit=100").body).at("items").as_array();
  };
  ASSERT_TRUE(until([&] { return tasksOf("admin").size() >= 2; }));  // step a of each run
  EXPECT_EQ(tasksOf("acme").size(), 1u);
  EXPECT_EQ(tasksOf("acme")[0].at("tenant"), "acme");
  EXPECT_TRUE(tasksOf("").empty());
  EXPECT_TRUE(claim().empty()) << "a run's tasks are its tenant's";
  auto work = [&](const std::string& tenant, const std::string& run) {
    return until(
        [&] {
          auto claimed = service->claim(tenant + "-agent", {"shell", "tenant:" + tenant}, 16);
          for (auto& assignment : claimed.ok() ? *claimed : std::vector<tasks::Assignment>{}) {
            EXPECT_TRUE(service->started(assignment.taskId, assignment.leaseToken).ok());
            succeed(assignment);
          }
          return as(tenant, "GET", "/api/v2/workflows/runs/" + run, 200)["status"] != "running";
        },
        std::chrono::seconds(20));
  };
  ASSERT_TRUE(work("acme", acme));
  json::object done = as("acme", "GET", "/api/v2/workflows/runs/" + acme, 200);
  EXPECT_EQ(done["status"], "succeeded") << json::serialize(done);
  EXPECT_EQ(done["outputs"].at("last").at("seen").at("from_b"), 3);  // start 1 → a 2 → b 3
  EXPECT_EQ(as("globex", "GET", "/api/v2/workflows/runs/" + globex, 200)["status"], "running");
  as("globex", "POST", "/api/v2/workflows/runs/" + globex + "/cancel", 200);

  // Schedules: another tenant's is not found, and not listed.
  json::object schedule = as("acme", "POST", "/api/v2/workflows/diamond/schedules", 201,
                             R"({"every": "1h", "params": {"start": 1}})");
  const std::string scheduleId(schedule["id"].as_string());
  EXPECT_EQ(schedule["tenant"], "acme");
  as("globex", "GET", "/api/v2/schedules/" + scheduleId, 404);
  as("globex", "DELETE", "/api/v2/schedules/" + scheduleId, 404);
  EXPECT_EQ(ids(as("globex", "GET", "/api/v2/schedules", 200)).size(), 0u);
  EXPECT_EQ(ids(as("admin", "GET", "/api/v2/schedules?tenant=acme", 200)), std::set<std::string>{scheduleId});
  as("acme", "DELETE", "/api/v2/schedules/" + scheduleId, 204);
}

// A new run is new work, refused while admission is closed; the steps of a
// run admitted before are submitted all the same (task_manager gates only
// clients' submissions, not another plugin's in process).
TEST_F(WorkflowEngineTest, ANewRunIsRefusedWhileAdmissionIsClosedAndAnAdmittedRunsStepsAreNot) {
  callJson("POST", "/api/v2/workflows", 201, kDiamond);
  auto gate = std::make_shared<SwitchedGate>();
  engine_->provideFake<admission::Gate>(gate, "resource_manager");
  tasks_->provideFake<admission::Gate>(gate, "resource_manager");
  http::Response refused = call("POST", "/api/v2/workflows/diamond/runs", R"({"params": {"start": 1}})");
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.body.find("Hive is saturated: test (workflow_run)"), std::string::npos) << refused.body;
  const std::string* retry = nullptr;
  for (const auto& header : refused.headers)
    if (header.name == "retry-after") retry = &header.value;
  ASSERT_NE(retry, nullptr);
  EXPECT_EQ(*retry, "3");
  EXPECT_TRUE(callJson("GET", "/api/v2/workflows/diamond/runs", 200)["items"].as_array().empty())
      << "the refused run was not stored";

  gate->closed = false;
  json::object started =
      callJson("POST", "/api/v2/workflows/diamond/runs", 201, R"({"params": {"start": 1}})");
  std::string id(started["id"].as_string());
  gate->closed = true;
  work(id);
  EXPECT_EQ(run(id)["status"], "succeeded") << json::serialize(run(id));
}

TEST_F(WorkflowEngineTest, TheDiamondRunsToSuccessWithResultsFlowingIntoLaterPayloads) {
  auto events = std::make_shared<std::vector<std::string>>();
  auto mutex = std::make_shared<std::mutex>();
  auto subscription = lookup<bus::Bus>(*bus_)->subscribe("workflows", [=](const bus::Event& event) {
    std::lock_guard lock(*mutex);
    events->push_back(std::string(json::parse(event.payload).at("event").as_string()));
  });
  std::string id = startDiamond(R"({"start": 10})");
  work(id);
  json::object finished = run(id);
  EXPECT_EQ(finished["status"], "succeeded") << json::serialize(finished);
  std::set<std::string> taskIds;
  for (auto& step : finished["steps"].as_array()) {
    EXPECT_EQ(step.at("status"), "succeeded");
    taskIds.insert(std::string(step.at("task_id").as_string()));
  }
  EXPECT_EQ(taskIds.size(), 4u);
  EXPECT_EQ(claimedTasks_, taskIds);  // one task per step, each claimed once
  // a got 10 and answered 11; b and c got 11 and answered 12; d got both.
  EXPECT_EQ(stepOf(id, "d")["result"].at("seen"), json::parse(R"({"from_b": 12, "from_c": 12})"));
  EXPECT_EQ(finished["outputs"].at("last").at("n"), 101);
  // The transitions went out on the bus: 4 steps × (running, succeeded), the run's start and end.
  EXPECT_TRUE(until([&] {
    std::lock_guard lock(*mutex);
    return events->size() >= 10;
  }));
  std::lock_guard lock(*mutex);
  EXPECT_EQ(std::count(events->begin(), events->end(), "workflow.step.succeeded"), 4);
  EXPECT_EQ(events->back(), "workflow.run.succeeded");
}

TEST_F(WorkflowEngineTest, DefinitionsAreVersionedAndApplyingTheSameOneTwiceKeepsItsVersion) {
  json::object first = callJson("POST", "/api/v2/workflows", 201, kDiamond);
  EXPECT_EQ(first["name"], "diamond");
  EXPECT_EQ(first["version"], 1);
  EXPECT_EQ(callJson("POST", "/api/v2/workflows", 200, kDiamond)["version"], 1);
  std::string changed = kDiamond;
  changed.replace(changed.find("\"default\": 1"), 12, "\"default\": 2");
  EXPECT_EQ(callJson("POST", "/api/v2/workflows", 201, changed)["version"], 2);
  EXPECT_EQ(callJson("GET", "/api/v2/workflows/diamond", 200)["version"], 2);
  json::object v1 = callJson("GET", "/api/v2/workflows/diamond?version=1", 200);
  EXPECT_EQ(v1["definition"], json::parse(kDiamond));
  EXPECT_EQ(callJson("GET", "/api/v2/workflows", 200)["items"].as_array().size(), 1u);
  callJson("GET", "/api/v2/workflows/diamond?version=3", 404);
  callJson("GET", "/api/v2/workflows/nothing", 404);
  // A run of version 1, asked for by number.
  json::object run = callJson("POST", "/api/v2/workflows/diamond/runs", 201, R"({"version": 1})");
  EXPECT_EQ(run["version"], 1);
  EXPECT_EQ(run["params"], json::parse(R"({"start": 1})"));
}

TEST_F(WorkflowEngineTest, InvalidDefinitionsAndParamsAre422WithPointersAndStoreNothing) {
  json::object cycle = callJson("POST", "/api/v2/workflows", 422, R"({"name": "loop", "steps": [
      {"name": "a", "depends_on": ["b"], "task": {"type": "t"}}, {"name": "b", "depends_on": ["a"], "task": {"type": "t"}}]})");
  EXPECT_EQ(cycle["errors"].as_array()[0].at("field"), "/steps/1/depends_on");
  json::object unknown = callJson("POST", "/api/v2/workflows", 422, R"({"name": "u", "steps": [
      {"name": "a", "task": {"type": "t", "payload": "${steps.ghost.result}"}}]})");
  EXPECT_EQ(unknown["errors"].as_array()[0].at("field"), "/steps/0/task/payload");
  callJson("GET", "/api/v2/workflows/loop", 404);
  EXPECT_EQ(call("POST", "/api/v2/workflows", "{not json").status, 400);
  callJson("POST", "/api/v2/workflows", 201, kDiamond);
  json::object bad =
      callJson("POST", "/api/v2/workflows/diamond/runs", 422, R"({"params": {"start": "x", "extra": 1}})");
  EXPECT_EQ(bad["errors"].as_array().size(), 2u);
  EXPECT_EQ(callJson("GET", "/api/v2/workflows/runs", 200)["items"].as_array().size(), 0u);
  callJson("POST", "/api/v2/workflows/nothing/runs", 404, "{}");
}

TEST_F(WorkflowEngineTest, YamlDefinitionsAreAccepted) {
  http::Response response =
      call("POST", "/api/v2/workflows", "name: tiny\nsteps:\n  - {name: a, task: {type: echo}}\n",
           {{"content-type", "application/yaml"}});
  EXPECT_EQ(response.status, 201) << response.body;
}

TEST_F(WorkflowEngineTest, ARestartResumesTheRunAndNoStepIsSubmittedTwice) {
  std::string id = startDiamond();
  std::vector<tasks::Assignment> first;
  ASSERT_TRUE(until([&] {
    auto claimed = claim();
    first.insert(first.end(), claimed.begin(), claimed.end());
    return !first.empty();
  }));
  // The engine goes away; a's task finishes while nobody listens.
  stopEngine();
  succeed(first[0]);
  tasks_->runPending();
  startEngine();  // the reconciler reads a's task and submits b and c
  work(id);
  EXPECT_EQ(runStatus(id), "succeeded");
  EXPECT_EQ(claimedTasks_.size(), 4u);
  // task_manager holds exactly one task per step.
  auto service = lookup<tasks::TaskService>(*tasks_);
  auto more = service->claim("agent-2", {"shell"}, 16);
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(more->empty());
}

TEST_F(WorkflowEngineTest, CancelCancelsTheRunningTasks) {
  std::string id = startDiamond();
  ASSERT_TRUE(until([&] { return !claim().empty(); }));
  ASSERT_TRUE(until([&] { return stepOf(id, "a")["status"] == "running"; }));
  std::string task(stepOf(id, "a")["task_id"].as_string());
  json::object cancelled = callJson("POST", "/api/v2/workflows/diamond/runs/" + id + "/cancel", 200);
  EXPECT_EQ(cancelled["status"], "cancelled");
  auto taskRoutes = lookup<http::RouteProvider>(*tasks_);
  EXPECT_TRUE(until([&] {
    hive::testing::RouteClient client(taskRoutes);
    std::atomic<bool> answered = false;
    Result<http::Response> response = unavailable("");
    std::thread caller([&] {
      response = client.request("GET", "/api/v2/tasks/" + task);
      answered = true;
    });
    while (!answered) {
      tasks_->runPending();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    caller.join();
    return response.ok() && json::parse(response->body).at("status") == "cancelled";
  }));
  callJson("POST", "/api/v2/workflows/runs/" + id + "/cancel", 409);
  for (const char* name : {"a", "b", "c", "d"}) EXPECT_EQ(stepOf(id, name)["status"], "cancelled") << name;
}

TEST_F(WorkflowEngineTest, AFailedTaskFailsTheRunAndSkipsItsDependentsWithTheReason) {
  std::string id = startDiamond();
  std::vector<tasks::Assignment> claimed;
  ASSERT_TRUE(until([&] {
    claimed = claim();
    return !claimed.empty();
  }));
  auto service = lookup<tasks::TaskService>(*tasks_);
  ASSERT_TRUE(
      service->failed(claimed[0].taskId, claimed[0].leaseToken, "bad input", tasks::Retry::kNever).ok());
  ASSERT_TRUE(until([&] { return runStatus(id) != "running"; }));
  json::object finished = run(id);
  EXPECT_EQ(finished["status"], "failed");
  EXPECT_EQ(stepOf(id, "a")["status"], "failed");
  EXPECT_EQ(stepOf(id, "b")["reason"], "dependency 'a' failed");
  EXPECT_EQ(stepOf(id, "d")["status"], "skipped");
}

// Retry from the failed step, over the routes with the real task_manager: the
// failed step gets a new task (task_manager's Idempotency-Key would otherwise
// answer the failed one), what succeeded is not run again.
TEST_F(WorkflowEngineTest, AFailedRunIsRetriedFromItsFailedStep) {
  std::string id = startDiamond();
  std::vector<tasks::Assignment> claimed;
  ASSERT_TRUE(until([&] { return !(claimed = claim()).empty(); }));
  succeed(claimed[0]);  // a
  claimed.clear();
  ASSERT_TRUE(until([&] {
    for (auto& assignment : claim()) claimed.push_back(assignment);
    return claimed.size() == 2;
  }));
  auto service = lookup<tasks::TaskService>(*tasks_);
  ASSERT_TRUE(until([&] { return stepOf(id, "b")["task_id"].is_string(); }));
  const std::string bTask(stepOf(id, "b")["task_id"].as_string());
  for (auto& assignment : claimed) {
    if (assignment.taskId == bTask)
      ASSERT_TRUE(
          service->failed(assignment.taskId, assignment.leaseToken, "flaky", tasks::Retry::kNever).ok());
    else
      succeed(assignment);
  }
  ASSERT_TRUE(until([&] { return runStatus(id) == "failed"; }));
  std::string failedTask(stepOf(id, "b")["task_id"].as_string());
  std::string cTask(stepOf(id, "c")["task_id"].as_string());
  callJson("POST", "/api/v2/workflows/runs/" + id + "/retry", 200);
  callJson("POST", "/api/v2/workflows/runs/" + id + "/retry", 409);  // running again
  std::size_t before = claimedTasks_.size();
  work(id);
  EXPECT_EQ(runStatus(id), "succeeded");
  EXPECT_EQ(claimedTasks_.size(), before + 2);  // b again and d; not a, not c
  EXPECT_NE(std::string(stepOf(id, "b")["task_id"].as_string()), failedTask);
  EXPECT_EQ(std::string(stepOf(id, "c")["task_id"].as_string()), cTask);
  EXPECT_EQ(stepOf(id, "b")["attempt"], 1);
  callJson("POST", "/api/v2/workflows/runs/" + id + "/retry", 409);
  callJson("POST", "/api/v2/workflows/runs/nope/retry", 404);
}

TEST_F(WorkflowEngineTest, APausedRunSubmitsNothingUntilResumed) {
  std::string id = startDiamond();
  std::vector<tasks::Assignment> claimed;
  ASSERT_TRUE(until([&] { return !(claimed = claim()).empty(); }));
  EXPECT_EQ(callJson("POST", "/api/v2/workflows/runs/" + id + "/pause", 200)["status"], "paused");
  succeed(claimed[0]);  // a ends while paused: recorded, b and c wait
  ASSERT_TRUE(until([&] { return stepOf(id, "a")["status"] == "succeeded"; }));
  until([] { return false; }, std::chrono::milliseconds(300));  // the reconciler runs meanwhile
  EXPECT_TRUE(claim().empty());
  EXPECT_EQ(stepOf(id, "b")["status"], "pending");
  json::object listed = callJson("GET", "/api/v2/workflows/runs?status=paused", 200);
  EXPECT_EQ(listed["items"].as_array().size(), 1u);
  callJson("POST", "/api/v2/workflows/runs/" + id + "/pause", 409);
  EXPECT_EQ(callJson("POST", "/api/v2/workflows/runs/" + id + "/resume", 200)["status"], "running");
  work(id);
  EXPECT_EQ(runStatus(id), "succeeded");
}

TEST_F(WorkflowEngineTest, RunsAreListedWithACursor) {
  callJson("POST", "/api/v2/workflows", 201, kDiamond);
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i)
    ids.insert(std::string(callJson("POST", "/api/v2/workflows/diamond/runs", 201, "{}")["id"].as_string()));
  json::object page = callJson("GET", "/api/v2/workflows/diamond/runs?limit=2", 200);
  ASSERT_EQ(page["items"].as_array().size(), 2u);
  std::string cursor(page["next_cursor"].as_string());
  json::object rest = callJson("GET", "/api/v2/workflows/diamond/runs?limit=2&cursor=" + cursor, 200);
  ASSERT_EQ(rest["items"].as_array().size(), 1u);
  EXPECT_FALSE(rest.contains("next_cursor"));
  std::set<std::string> seen;
  for (auto* items : {&page["items"].as_array(), &rest["items"].as_array()})
    for (auto& item : *items) seen.insert(std::string(item.at("id").as_string()));
  EXPECT_EQ(seen, ids);
  // The same Idempotency-Key gives the same run.
  http::Response once = call("POST", "/api/v2/workflows/diamond/runs", "{}", {{"idempotency-key", "k-1"}});
  http::Response again = call("POST", "/api/v2/workflows/diamond/runs", "{}", {{"idempotency-key", "k-1"}});
  EXPECT_EQ(once.status, 201);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(json::parse(once.body).at("id"), json::parse(again.body).at("id"));
}

TEST_F(WorkflowEngineTest, AnApprovalStepWaitsUntilSomeoneApprovesIt) {
  callJson("POST", "/api/v2/workflows", 201, R"({"name": "gated", "steps": [
    {"name": "review", "approval": {"description": "ship it?"}},
    {"name": "ship", "depends_on": ["review"], "task": {"type": "echo", "capabilities": ["shell"],
                                                       "payload": {"by": "${steps.review.result.by}"}}}]})");
  std::string id(callJson("POST", "/api/v2/workflows/gated/runs", 201, "{}")["id"].as_string());
  ASSERT_TRUE(until([&] { return stepOf(id, "review")["status"] == "waiting"; }));
  EXPECT_TRUE(claim().empty());  // nothing was submitted
  callJson("POST", "/api/v2/workflows/runs/" + id + "/steps/ship/approve", 409);
  callJson("POST", "/api/v2/workflows/runs/" + id + "/steps/ghost/approve", 404);
  json::object approved = callJson("POST", "/api/v2/workflows/gated/runs/" + id + "/steps/review/approve",
                                   200, R"({"comment": "go"})");
  EXPECT_EQ(approved["steps"].as_array()[0].at("result").at("comment"), "go");
  work(id);
  EXPECT_EQ(runStatus(id), "succeeded");
  ASSERT_EQ(payloads_.size(), 1u);
  EXPECT_EQ(payloads_[0].at("by"), "anonymous");  // RouteClient sends no principal here
}

// What exactly-once submission rests on: a second submission with a step's key
// (after a crash between the submission and the run's write) gets the task the
// first one created, through task_manager's routes as the engine calls them.
TEST_F(WorkflowEngineTest, ASubmissionRepeatedWithTheStepKeyFindsTheFirstTask) {
  RouteTaskGateway gateway(engine_->services(), "workflow_engine");
  auto submit = [&](const std::string& key, const std::string& body) {
    std::optional<Result<std::string>> answer;
    gateway.submit("", key, body, [&](Result<std::string> task) { answer = std::move(task); });
    EXPECT_TRUE(until([&] { return answer.has_value(); }));
    return answer.value_or(Result<std::string>(unavailable("no answer")));
  };
  const std::string body = R"({"type": "echo", "capabilities": ["shell"], "payload": {"n": 1}})";
  auto first = submit("workflow:w1:a", body);
  auto again = submit("workflow:w1:a", body);
  ASSERT_TRUE(first.ok()) << first.status().toString();
  ASSERT_TRUE(again.ok()) << again.status().toString();
  EXPECT_EQ(*first, *again);
  auto other = submit("workflow:w1:b", body);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, *first);
  EXPECT_EQ(claim().size(), 2u);  // two tasks in task_manager, not three
  // A body task_manager refuses is kInvalidArgument (the step fails), not a retry.
  auto refused = submit("workflow:w1:c", R"({"type": "BAD TYPE"})");
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  std::optional<Result<json::object>> read;
  gateway.read("", *first, [&](Result<json::object> task) { read = std::move(task); });
  ASSERT_TRUE(until([&] { return read.has_value(); }));
  ASSERT_TRUE(read->ok());
  EXPECT_EQ((**read)["status"], "running");
}

TEST_F(WorkflowEngineTest, TheBuiltSharedLibraryRunsTheDiamond) {
  startEngine(Build::kSharedLibrary);
  ASSERT_NE(engine_->manifest(), nullptr);
  EXPECT_STREQ(engine_->manifest()->name, "workflow_engine");
  std::string id = startDiamond();
  work(id);
  EXPECT_EQ(runStatus(id), "succeeded");
}

// The bus, the store and task_manager are each replaced by a new generation in
// the middle of a run (as the kernel's hot swap does: the new one is provided
// under the same provider name, then the old one goes). The run completes on
// task events heard from the new bus: the harness never fires the reconciler's
// timer, so nothing else could move it.
TEST_F(WorkflowEngineTest, ARunCompletesAcrossSwapsOfTheBusTheStoreAndTaskManager) {
  std::string id = startDiamond();
  std::vector<tasks::Assignment> first;
  ASSERT_TRUE(until([&] {
    auto claimed = claim();
    first.insert(first.end(), claimed.begin(), claimed.end());
    return !first.empty();
  }));
  ASSERT_TRUE(until([&] { return stepOf(id, "a")["status"] == "running"; }));

  // MemoryBus instances share nothing: a consumer that kept its subscription on
  // the old bus would hear nothing more (communication_engine's generations share
  // their subscribers, which would hide that).
  auto newBus = std::make_shared<hive::testing::MemoryBus>();
  auto newStore = loadStore();
  auto newTasks = load(TASK_MANAGER_PLUGIN);
  newTasks->provideFake<store::Store>(lookup<store::Store>(*newStore), "storage_sqlite");
  newTasks->provideFake<bus::Bus>(newBus, "communication_engine");
  newTasks->setConfig(hive::testing::configFromPairs({{"retry_base", "1ms"}, {"retry_max", "2ms"}}));
  ASSERT_TRUE(newTasks->start().ok());
  engine_->provideFake<bus::Bus>(newBus, "communication_engine");
  engine_->provideFake<store::Store>(lookup<store::Store>(*newStore), "storage_sqlite");
  engine_->provideFake<tasks::TaskService>(lookup<tasks::TaskService>(*newTasks), "task_manager");
  engine_->provideFake<http::RouteProvider>(lookup<http::RouteProvider>(*newTasks), "task_manager");
  tasks_ = std::move(newTasks);  // the old generations go
  store_ = std::move(newStore);

  succeed(first[0]);
  work(id);
  EXPECT_EQ(runStatus(id), "succeeded");
  EXPECT_EQ(claimedTasks_.size(), 4u);
}

// A map of 6 items, 2 at a time, with the engine restarted in the middle (an
// item's task finishing while it is down): every item runs exactly once, the
// window of 2 holds, and the results come back in the list's order.
// A store that keeps documents of at most 8 KiB: the run of a map outgrows it,
// at the expansion of 150 items or as 40 items' results come in. The run
// fails and says why, instead of staying "running" with every write refused
// (a 10,000-item map did that on the default 1 MiB).
class WorkflowEngineSmallStoreTest : public WorkflowEngineTest {
 protected:
  void SetUp() override {
    maxDocumentBytes_ = "8192";
    WorkflowEngineTest::SetUp();
  }

  std::string startMap(int items) {
    json::array list;
    for (int i = 0; i < items; ++i) list.push_back(i);
    return std::string(
        callJson("POST", "/api/v2/workflows/big/runs", 201,
                 json::serialize(json::object{{"params", json::object{{"items", list}}}}))["id"]
            .as_string());
  }

  void expectFailedForSize(const std::string& id) {
    json::object failed = run(id);
    ASSERT_EQ(failed["status"], "failed") << json::serialize(failed).substr(0, 2000);
    ASSERT_TRUE(failed["error"].is_string()) << json::serialize(failed).substr(0, 2000);
    EXPECT_NE(std::string(failed["error"].as_string()).find("no longer fits in one store document"),
              std::string::npos)
        << failed["error"];
  }
};

TEST_F(WorkflowEngineSmallStoreTest, ARunThatOutgrowsTheStoresDocumentLimitFailsAndSaysWhy) {
  callJson("POST", "/api/v2/workflows", 201, R"({"name": "big", "params": {"items": {"type": "array"}},
    "steps": [{"name": "each", "map": {"over": "params.items", "parallelism": 4},
               "task": {"type": "echo", "capabilities": ["shell"], "payload": {"n": "${index}",
                 "pad": "................................................................................................................................................................................................"}}}]})");
  // Too many items for the document to take their list.
  std::string tooMany = startMap(150);
  work(tooMany);
  expectFailedForSize(tooMany);
  // A list that fits, whose results do not: the items done so far are counted.
  std::string growing = startMap(40);
  work(growing);
  expectFailedForSize(growing);
  json::object each = stepOf(growing, "each");
  ASSERT_TRUE(each["reason"].is_string()) << json::serialize(each).substr(0, 2000);
  EXPECT_NE(std::string(each["reason"].as_string()).find("40 items ("), std::string::npos) << each["reason"];
  EXPECT_NE(std::string(each["reason"].as_string()).find(" succeeded"), std::string::npos) << each["reason"];
  EXPECT_TRUE(claim().empty()) << "nothing of the failed runs is left to claim";
}

TEST_F(WorkflowEngineTest, AMapFansOutWithinItsParallelismAcrossARestartAndGathersInOrder) {
  callJson("POST", "/api/v2/workflows", 201, R"({"name": "fan", "params": {"files": {"type": "array"}},
    "steps": [{"name": "each", "map": {"over": "params.files", "parallelism": 2},
               "task": {"type": "echo", "capabilities": ["shell"], "payload": {"file": "${item}", "n": "${index}"}}},
              {"name": "sum", "depends_on": ["each"], "task": {"type": "echo", "capabilities": ["shell"],
               "payload": {"all": "${steps.each.result}"}}}],
    "outputs": {"all": "${steps.each.result}"}})");
  std::string id(callJson("POST", "/api/v2/workflows/fan/runs", 201,
                          R"({"params": {"files": ["a", "b", "c", "d", "e", "f"]}})")["id"]
                     .as_string());
  std::vector<tasks::Assignment> held;
  ASSERT_TRUE(until([&] {
    auto claimed = claim();
    held.insert(held.end(), claimed.begin(), claimed.end());
    return held.size() >= 2;
  }));
  std::size_t mostAtOnce = held.size();
  // One finishes while the engine is down; the other after it came back.
  stopEngine();
  succeed(held[0]);
  tasks_->runPending();
  startEngine();
  succeed(held[1]);
  held.clear();
  ASSERT_TRUE(until(
      [&] {
        auto claimed = claim();
        held.insert(held.end(), claimed.begin(), claimed.end());
        mostAtOnce = std::max(mostAtOnce, held.size());
        if (!held.empty()) {
          succeed(held.front());
          held.erase(held.begin());
        }
        return runStatus(id) != "running";
      },
      std::chrono::seconds(30)));
  json::object finished = run(id);
  EXPECT_EQ(finished["status"], "succeeded") << json::serialize(finished);
  EXPECT_LE(mostAtOnce, 2u);
  EXPECT_EQ(claimedTasks_.size(), 7u);  // 6 items and the sum: none twice
  json::array expected;
  for (int n = 1; n <= 6; ++n) expected.push_back(json::value(n));
  json::array got;
  for (auto& result : finished["outputs"].at("all").as_array()) got.push_back(result.at("n"));
  EXPECT_EQ(got, expected);
  std::set<std::string> files;
  json::object each = stepOf(id, "each");
  for (auto& item : each["items"].as_array()) {
    EXPECT_EQ(item.at("status"), "succeeded");
    files.insert(std::string(item.at("result").at("seen").at("file").as_string()));
  }
  EXPECT_EQ(files.size(), 6u);
}

constexpr const char* kChild = R"({"name": "child", "params": {"x": {"type": "integer"}},
  "steps": [{"name": "work", "task": {"type": "echo", "capabilities": ["shell"], "payload": {"n": "${params.x}"}}}],
  "outputs": {"y": "${steps.work.result.n}"}})";

TEST_F(WorkflowEngineTest, ASubWorkflowStepRunsTheOtherWorkflowAndTakesItsOutputs) {
  callJson("POST", "/api/v2/workflows", 201, kChild);
  callJson("POST", "/api/v2/workflows", 201, R"({"name": "parent",
    "steps": [{"name": "call", "workflow": {"name": "child", "params": {"x": 41}}},
              {"name": "after", "depends_on": ["call"], "task": {"type": "echo", "capabilities": ["shell"],
               "payload": {"n": "${steps.call.result.y}"}}}],
    "outputs": {"from_child": "${steps.call.result.y}"}})");
  std::string id(callJson("POST", "/api/v2/workflows/parent/runs", 201, "{}")["id"].as_string());
  work(id);
  json::object finished = run(id);
  EXPECT_EQ(finished["status"], "succeeded") << json::serialize(finished);
  EXPECT_EQ(finished["outputs"].at("from_child"), 42);  // the child's task answered 41 + 1
  std::string child(stepOf(id, "call")["run_id"].as_string());
  json::object childRun = this->run(child);
  EXPECT_EQ(childRun["status"], "succeeded");
  EXPECT_EQ(childRun["parent"].at("run"), json::value(id));
  EXPECT_EQ(claimedTasks_.size(), 2u);
  // Child params the child refuses fail the step, with the child's reason.
  callJson("POST", "/api/v2/workflows", 201, R"({"name": "wrong",
    "steps": [{"name": "call", "workflow": {"name": "child", "params": {"x": "text"}}}]})");
  std::string wrong(callJson("POST", "/api/v2/workflows/wrong/runs", 201, "{}")["id"].as_string());
  ASSERT_TRUE(until([&] { return runStatus(wrong) != "running"; }));
  EXPECT_EQ(runStatus(wrong), "failed");
  EXPECT_NE(std::string(stepOf(wrong, "call")["error"].as_string()).find("/params/x"), std::string::npos)
      << stepOf(wrong, "call")["error"];
}

TEST_F(WorkflowEngineTest, CancellingARunCancelsItsSubWorkflowRunAndItsTask) {
  callJson("POST", "/api/v2/workflows", 201, kChild);
  callJson("POST", "/api/v2/workflows", 201, R"({"name": "parent",
    "steps": [{"name": "call", "workflow": {"name": "child", "params": {"x": 1}}}]})");
  std::string id(callJson("POST", "/api/v2/workflows/parent/runs", 201, "{}")["id"].as_string());
  ASSERT_TRUE(until([&] { return !claim().empty(); }));
  ASSERT_TRUE(until([&] { return stepOf(id, "call")["status"] == "running"; }));
  std::string child(stepOf(id, "call")["run_id"].as_string());
  callJson("POST", "/api/v2/workflows/runs/" + id + "/cancel", 200);
  EXPECT_TRUE(until([&] { return runStatus(child) == "cancelled"; }));
  EXPECT_EQ(stepOf(child, "work")["status"], "cancelled");
}

TEST_F(WorkflowEngineTest, CallsToUnknownWorkflowsAndCyclesBetweenDefinitionsAreRefusedAtRegistration) {
  json::object unknown = callJson("POST", "/api/v2/workflows", 422, R"({"name": "a",
    "steps": [{"name": "s", "workflow": {"name": "b"}}]})");
  EXPECT_EQ(unknown["errors"].as_array()[0].at("field"), "/steps/0/workflow/name");
  callJson("POST", "/api/v2/workflows", 201,
           R"({"name": "c", "steps": [{"name": "s", "task": {"type": "t"}}]})");
  callJson("POST", "/api/v2/workflows", 201,
           R"({"name": "b", "steps": [{"name": "s", "workflow": {"name": "c"}}]})");
  callJson("POST", "/api/v2/workflows", 201,
           R"({"name": "a", "steps": [{"name": "s", "workflow": {"name": "b"}}]})");
  // c calling a would close a -> b -> c -> a.
  json::object cycle = callJson("POST", "/api/v2/workflows", 422, R"({"name": "c",
    "steps": [{"name": "s", "task": {"type": "t"}}, {"name": "back", "workflow": {"name": "a"}}]})");
  EXPECT_EQ(cycle["errors"].as_array()[0].at("field"), "/steps/1/workflow/name");
  EXPECT_NE(std::string(cycle["errors"].as_array()[0].at("message").as_string()).find("c -> a -> b -> c"),
            std::string::npos)
      << cycle;
  EXPECT_EQ(callJson("GET", "/api/v2/workflows/c", 200)["version"], 1);  // nothing stored
  json::object version = callJson("POST", "/api/v2/workflows", 422, R"({"name": "d",
    "steps": [{"name": "s", "workflow": {"name": "c", "version": 5}}]})");
  EXPECT_EQ(version["errors"].as_array()[0].at("field"), "/steps/0/workflow/version");
}

// ---- schedules ----

class ManualClock final : public plugin_common::Clock {
 public:
  explicit ManualClock(std::int64_t start) : now_(start) {}
  std::int64_t nowMs() const override { return now_; }
  void advance(std::chrono::milliseconds by) { now_ += by.count(); }

 private:
  std::atomic<std::int64_t> now_;
};

// One node's engine and scheduler on the test's store, task_manager and
// clock: two of them are two Hive nodes sharing a database.
struct Node {
  std::shared_ptr<Engine> engine;
  std::unique_ptr<Scheduler> scheduler;
};

class WorkflowScheduleTest : public WorkflowEngineTest {
 protected:
  Node node(ScheduleOptions options = {}) {
    auto handle = engine_->context().services().handle<store::Store>();
    EXPECT_TRUE(handle.ok());
    EngineOptions engineOptions;
    engineOptions.schedules = options;
    Node made;
    made.engine = std::make_shared<Engine>(
        engine_->context(), *handle,
        std::make_unique<RouteTaskGateway>(engine_->services(), "workflow_engine"), nullptr, engineOptions);
    EXPECT_TRUE(made.engine->open().ok());
    made.scheduler = std::make_unique<Scheduler>(*made.engine, *handle, clock_, options);
    EXPECT_TRUE(made.scheduler->open().ok());
    return made;
  }
  void TearDown() override {
    for (Node* each : {&a_, &b_}) {
      if (!each->engine) continue;
      each->engine->beginDrain();
      until([&] { return each->engine->idle(); });
      each->scheduler.reset();
      each->engine.reset();
    }
    WorkflowEngineTest::TearDown();
  }
  std::size_t runsOf(const std::string& workflow) {
    return callJson("GET", "/api/v2/workflows/" + workflow + "/runs?limit=1000", 200)["items"]
        .as_array()
        .size();
  }
  json::object createSchedule(Node& on, const std::string& workflow, std::string_view body) {
    std::vector<http::FieldError> errors;
    auto created = on.scheduler->createOf("", workflow, json::parse(body), errors);
    EXPECT_TRUE(created.ok()) << created.status().toString();
    return created.ok() ? *created : json::object{};
  }

  ManualClock clock_{1'796'000'000'000};
  Node a_, b_;
};

// A step's task is submitted before the transition that made it ready is
// committed; a cancel that commits in between must not leave it running.
TEST_F(WorkflowScheduleTest, ATaskSubmittedAsItsRunIsCancelledIsCancelledToo) {
  callJson("POST", "/api/v2/workflows", 201, kDiamond);
  a_ = node();
  std::vector<http::FieldError> errors;
  auto started = a_.engine->startRun("", "diamond", 0, json::parse(R"({"start": 1})"), "", errors);
  ASSERT_TRUE(started.ok()) << started.status().toString();
  const std::string id(started->run["id"].as_string());
  // The advance runs and asks task_manager for step a's task; task_manager
  // has not run yet when the cancel commits.
  engine_->runPending();
  auto cancelled = a_.engine->cancelRun(id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().toString();
  auto tasksOfRun = [&] {
    std::vector<json::object> found;
    json::object page = callTasks("GET", "/api/v2/tasks?limit=100", 200);
    for (auto& task : page["items"].as_array())
      if (task.at("title").as_string().find(id) != json::string::npos) found.push_back(task.as_object());
    return found;
  };
  ASSERT_TRUE(until([&] {
    auto found = tasksOfRun();
    return !found.empty() && std::all_of(found.begin(), found.end(),
                                         [](const json::object& t) { return t.at("status") == "cancelled"; });
  })) << json::serialize(callTasks("GET", "/api/v2/tasks?limit=100", 200));
  EXPECT_EQ(callJson("GET", "/api/v2/workflows/runs/" + id, 200)["status"], "cancelled");
}

TEST_F(WorkflowScheduleTest, TwoNodesTickingTogetherStartEachFireOnce) {
  callJson("POST", "/api/v2/workflows", 201, kDiamond);
  a_ = node();
  b_ = node();
  createSchedule(a_, "diamond", R"({"every": "10s", "params": {"start": 5}})");
  std::size_t started = 0;
  for (int second = 1; second <= 60; ++second) {
    clock_.advance(std::chrono::seconds(1));
    // Both orders, and each node twice: a tick that lost the race, or a node
    // restarted at the same moment, finds the fire claimed.
    if (second % 2) {
      started += a_.scheduler->tick() + b_.scheduler->tick() + a_.scheduler->tick();
    } else {
      started += b_.scheduler->tick() + a_.scheduler->tick() + b_.scheduler->tick();
    }
  }
  EXPECT_EQ(started, 6u);
  EXPECT_EQ(runsOf("diamond"), 6u);
  json::object listed = callJson("GET", "/api/v2/workflows/diamond/runs?limit=1", 200);
  EXPECT_EQ(listed["items"].as_array()[0].at("params"), json::parse(R"({"start": 5})"));
}

TEST_F(WorkflowScheduleTest, MissedFiresAreSkippedOrRunOnceAfterDowntime) {
  callJson("POST", "/api/v2/workflows", 201, kDiamond);
  ScheduleOptions options;
  options.grace = std::chrono::seconds(1);
  a_ = node(options);
  createSchedule(a_, "diamond", R"({"every": "10s", "catch_up": "skip"})");
  std::string once(
      createSchedule(a_, "diamond", R"({"every": "10s", "catch_up": "once"})")["id"].as_string());
  clock_.advance(std::chrono::seconds(10));
  EXPECT_EQ(a_.scheduler->tick(), 2u);  // on time: both
  // Every node down for an hour; back between two fire times.
  clock_.advance(std::chrono::seconds(3605));
  EXPECT_EQ(a_.scheduler->tick(), 1u);  // only `once`, for all it missed
  EXPECT_EQ(a_.scheduler->tick(), 0u);
  clock_.advance(std::chrono::seconds(5));
  EXPECT_EQ(a_.scheduler->tick(), 2u);  // back on time
  EXPECT_EQ(runsOf("diamond"), 5u);
  json::object schedules = callJson("GET", "/api/v2/workflows/diamond/schedules", 200);
  for (auto& item : schedules["items"].as_array()) {
    if (item.at("id") != json::value(once)) continue;
    EXPECT_EQ(item.at("missed_at_ms"), clock_.nowMs() - 3'600'000);
    EXPECT_EQ(item.at("next_fire_ms"), clock_.nowMs() + 10'000);
  }
}

TEST_F(WorkflowScheduleTest, SchedulesAreAttachedListedAndDetachedOverTheApi) {
  callJson("POST", "/api/v2/workflows", 201, kDiamond);
  json::object created =
      callJson("POST", "/api/v2/workflows/diamond/schedules", 201,
               R"({"cron": "*/5 * * * *", "time_zone": "+02:00", "params": {"start": 2}})");
  EXPECT_EQ(created["cron"], "*/5 * * * *");
  EXPECT_EQ(created["catch_up"], "skip");
  EXPECT_TRUE(created["next_fire_ms"].is_int64());
  json::object bad = callJson("POST", "/api/v2/workflows/diamond/schedules", 422,
                              R"({"cron": "0 24 * * *", "time_zone": "Mars/Olympus_Mons"})");
  EXPECT_EQ(bad["errors"].as_array()[0].at("field"), "/cron");
  EXPECT_EQ(bad["errors"].as_array()[0].at("message"), "field 2 (hour): 24 is out of 0-23");
  EXPECT_EQ(bad["errors"].as_array()[1].at("field"), "/time_zone");
  EXPECT_NE(json::serialize(bad["errors"].as_array()[1]).find("no such time zone"), std::string::npos) << bad;
  json::object params = callJson("POST", "/api/v2/workflows/diamond/schedules", 422,
                                 R"({"every": "1m", "params": {"start": "x"}})");
  EXPECT_EQ(params["errors"].as_array()[0].at("field"), "/params/start");
  callJson("POST", "/api/v2/workflows/nothing/schedules", 404, R"({"every": "1m"})");
  EXPECT_EQ(callJson("GET", "/api/v2/workflows/diamond/schedules", 200)["items"].as_array().size(), 1u);
  std::string id(created["id"].as_string());
  EXPECT_EQ(call("DELETE", "/api/v2/workflows/diamond/schedules/" + id).status, 204);
  EXPECT_EQ(call("DELETE", "/api/v2/workflows/diamond/schedules/" + id).status, 404);
  EXPECT_EQ(callJson("GET", "/api/v2/workflows/diamond/schedules", 200)["items"].as_array().size(), 0u);
}

TEST_F(WorkflowScheduleTest, ADefinitionDeclaresItsSchedulesAndANewVersionReplacesThem) {
  std::string declared = kDiamond;
  declared.insert(declared.rfind('}'), R"(, "schedules": [{"every": "10s", "params": {"start": 7}}])");
  json::object refused =
      callJson("POST", "/api/v2/workflows", 422,
               std::string(kDiamond).insert(
                   std::string(kDiamond).rfind('}'),
                   R"(, "schedules": [{"cron": "61 * * * *"}, {"every": "1m", "params": {"x": 1}}])"));
  EXPECT_EQ(refused["errors"].as_array()[0].at("field"), "/schedules/0/cron");
  EXPECT_EQ(refused["errors"].as_array()[1].at("field"), "/schedules/1/params/x");
  callJson("POST", "/api/v2/workflows", 201, declared);
  json::object listed = callJson("GET", "/api/v2/workflows/diamond/schedules", 200);
  ASSERT_EQ(listed["items"].as_array().size(), 1u);
  EXPECT_EQ(listed["items"].as_array()[0].at("id"), "diamond:0");
  EXPECT_EQ(listed["items"].as_array()[0].at("source"), "definition");
  EXPECT_EQ(call("DELETE", "/api/v2/workflows/diamond/schedules/diamond:0").status, 409);
  a_ = node();
  EXPECT_EQ(a_.scheduler->tick(), 0u);  // the first tick sets its first fire time
  clock_.advance(std::chrono::seconds(10));
  EXPECT_EQ(a_.scheduler->tick(), 1u);
  // A version without schedules takes them away.
  callJson("POST", "/api/v2/workflows", 201, kDiamond);
  EXPECT_EQ(callJson("GET", "/api/v2/workflows/diamond/schedules", 200)["items"].as_array().size(), 0u);
  clock_.advance(std::chrono::seconds(10));
  EXPECT_EQ(a_.scheduler->tick(), 0u);
  EXPECT_EQ(runsOf("diamond"), 1u);
}

TEST_F(WorkflowScheduleTest, TaskSchedulesSubmitOneTaskPerFireOnTwoNodesAndAreManagedAtApiV2Schedules) {
  callJson("POST", "/api/v2/workflows", 201, kDiamond);
  a_ = node();
  b_ = node();
  // Created on a node, whose clock the test moves (the routes' scheduler
  // reads the real one); as POST /api/v2/schedules would.
  std::vector<http::FieldError> errors;
  auto made = a_.scheduler->create("", json::parse(R"({"every": "10s", "task": {
      "type": "nightly-report", "capabilities": ["shell"], "payload": {"scope": "all"}, "retries": 2}})"),
                                   errors);
  ASSERT_TRUE(made.ok()) << made.status().toString();
  json::object created = *made;
  EXPECT_FALSE(created.contains("workflow"));
  EXPECT_FALSE(created.contains("params"));
  EXPECT_EQ(created["task"].at("type"), "nightly-report");
  const std::string id(created["id"].as_string());
  // One schedule of a workflow through the same route.
  json::object ofWorkflow =
      callJson("POST", "/api/v2/schedules", 201, R"({"workflow": "diamond", "every": "1h"})");
  EXPECT_EQ(ofWorkflow["workflow"], "diamond");
  // Mistakes, all of them at once, with their place.
  json::object bad = callJson("POST", "/api/v2/schedules", 422,
                              R"({"every": "1m", "params": {}, "task": {"type": "Bad Type", "colour": 1}})");
  std::set<std::string> fields;
  for (const auto& error : bad["errors"].as_array())
    fields.insert(std::string(error.at("field").as_string()));
  EXPECT_EQ(fields, (std::set<std::string>{"/task/colour", "/task/type", "/params"})) << bad;
  EXPECT_EQ(
      callJson("POST", "/api/v2/schedules", 422, R"({"every": "1m"})")["errors"].as_array()[0].at("field"),
      "");
  callJson("POST", "/api/v2/schedules", 404, R"({"workflow": "nothing", "every": "1m"})");
  EXPECT_EQ(
      callJson("POST", "/api/v2/schedules", 201, R"({"task": {"type": "x"}, "cron": "0 3 * * *"})")["task"],
      json::parse(R"({"type": "x"})"));

  std::size_t accepted = 0;
  for (int second = 1; second <= 62; ++second) {
    clock_.advance(std::chrono::seconds(1));
    accepted += second % 2 ? a_.scheduler->tick() + b_.scheduler->tick()
                           : b_.scheduler->tick() + a_.scheduler->tick();
    // task_manager answers on its executor, which the test runs here.
    ASSERT_TRUE(until([&] { return a_.scheduler->submitting() + b_.scheduler->submitting() == 0; }));
  }
  // The fire at 60 s is noted by the tick at 61 s and its answer by the next.
  EXPECT_GE(accepted, 6u) << callJson("GET", "/api/v2/schedules/" + id, 200);
  json::object tasks = callTasks("GET", "/api/v2/tasks?type=nightly-report&limit=1000", 200);
  ASSERT_EQ(tasks["items"].as_array().size(), 6u) << tasks;  // one per fire, whichever node fired it
  std::set<std::string> titles;
  for (const auto& task : tasks["items"].as_array()) {
    titles.insert(std::string(task.at("title").as_string()));
    EXPECT_EQ(task.at("payload"), json::parse(R"({"scope": "all"})"));
    EXPECT_EQ(task.at("max_attempts"), 3);
  }
  EXPECT_EQ(titles.size(), 6u);
  json::object shown = callJson("GET", "/api/v2/schedules/" + id, 200);
  EXPECT_TRUE(shown["last_task"].is_string()) << shown;
  EXPECT_EQ(shown["last_fire_ms"], clock_.nowMs() - 2000);
  EXPECT_FALSE(shown.contains("last_error")) << shown;
  EXPECT_FALSE(shown.contains("pending_fires")) << shown;

  EXPECT_EQ(callJson("GET", "/api/v2/schedules", 200)["items"].as_array().size(), 3u);
  EXPECT_EQ(callJson("GET", "/api/v2/schedules?workflow=diamond", 200)["items"].as_array().size(), 1u);
  EXPECT_EQ(call("DELETE", "/api/v2/schedules/" + id).status, 204);
  EXPECT_EQ(call("DELETE", "/api/v2/schedules/" + id).status, 404);
  EXPECT_EQ(call("GET", "/api/v2/schedules/" + id).status, 404);
  clock_.advance(std::chrono::seconds(10));
  a_.scheduler->tick();
  EXPECT_EQ(callTasks("GET", "/api/v2/tasks?type=nightly-report&limit=1000", 200)["items"].as_array().size(),
            6u);
}

// ---- retention ----

TEST_F(WorkflowScheduleTest, FinishedRunsOlderThanTheRetentionGoInSmallBatchesWithTheirKeys) {
  callJson("POST", "/api/v2/workflows", 201, kDiamond);
  std::vector<std::string> finished;
  for (int i = 0; i < 5; ++i) {
    http::Response started = call("POST", "/api/v2/workflows/diamond/runs", "{}",
                                  {{"idempotency-key", "key-" + std::to_string(i)}});
    ASSERT_EQ(started.status, 201) << started.body;
    finished.emplace_back(json::parse(started.body).at("id").as_string());
    callJson("POST", "/api/v2/workflows/runs/" + finished.back() + "/cancel", 200);
  }
  std::string running(callJson("POST", "/api/v2/workflows/diamond/runs", 201, "{}")["id"].as_string());
  auto handle = engine_->context().services().handle<store::Store>();
  ASSERT_TRUE(handle.ok());
  RetentionOptions options;
  options.keep = std::chrono::hours(24 * 7);
  options.batch = 2;
  ManualClock clock(plugin_common::nowMs());
  RunRetention retention(*handle, clock, engine_->context().log(), options);
  EXPECT_EQ(retention.pass(), 0u);  // younger than 7 days: all stay
  EXPECT_EQ(runsOf("diamond"), 6u);
  clock.advance(std::chrono::hours(24 * 7 + 1));
  EXPECT_EQ(retention.pass(), 2u);
  EXPECT_EQ(retention.pass(), 2u);
  EXPECT_EQ(retention.pass(), 1u);
  EXPECT_EQ(retention.pass(), 0u);
  EXPECT_EQ(runsOf("diamond"), 1u);
  EXPECT_EQ(runStatus(running), "running");  // never a running one
  for (const std::string& id : finished) callJson("GET", "/api/v2/workflows/runs/" + id, 404);
  // The key went with its run: it starts a new one.
  EXPECT_EQ(call("POST", "/api/v2/workflows/diamond/runs", "{}", {{"idempotency-key", "key-0"}}).status, 201);
  // The events of those runs were trimmed with them.
  auto events = (*handle).lease()->read(kEventStream, 0, 1000);
  ASSERT_TRUE(events.ok());
  for (const auto& event : *events)
    for (const std::string& id : finished) EXPECT_EQ(event.body.find(id), std::string::npos) << event.body;
}

}  // namespace
}  // namespace hive::workflow_engine
