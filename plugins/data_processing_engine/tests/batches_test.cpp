// data_processing_engine with the real storage_sqlite, communication_engine
// and task_manager plugins, loaded from their .so files through the SDK
// harness. The test plays the agent through hive.tasks/1 (claim, report).
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "batch_plugin.hpp"
#include "hive/services/bus.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tasks.hpp"
#include "hive/services/tenancy.hpp"
#include "hive/testing/harness.hpp"
#include "hive/testing/routes.hpp"
#include "plugin_common/switched_gate.hpp"
#include "plugin_common/test_tenancy.hpp"

namespace hive::data_processing_engine {
namespace {

namespace json = boost::json;
using hive::testing::PluginHarness;

class BatchesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(inputDir_);
    bus_ = load(COMMUNICATION_ENGINE_PLUGIN);
    ASSERT_TRUE(bus_->start().ok());
    store_ = load(STORAGE_SQLITE_PLUGIN);
    store_->setConfig(hive::testing::configFromPairs({{"path", base_ + ".db"}}));
    ASSERT_TRUE(store_->start().ok());
    tasks_ = load(TASK_MANAGER_PLUGIN);
    tasks_->provideFake<store::Store>(lookup<store::Store>(*store_), "storage_sqlite");
    tasks_->provideFake<bus::Bus>(lookup<bus::Bus>(*bus_), "communication_engine");
    tasks_->setConfig(hive::testing::configFromPairs({{"retry_base", "1ms"}, {"retry_max", "2ms"}}));
    ASSERT_TRUE(tasks_->start().ok());
    startEngine();
  }

  void TearDown() override {
    stopEngine();
    tasks_.reset();
    store_.reset();
    bus_.reset();
    for (const char* suffix : {".db", ".db-wal", ".db-shm"}) std::remove((base_ + suffix).c_str());
    std::filesystem::remove_all(base_ + "-dirs");
  }

  enum class Build { kLinked, kSharedLibrary };
  void startEngine(Build build = Build::kLinked) {
    stopEngine();
    engine_ = build == Build::kLinked
                  ? PluginHarness::create<DataProcessingEnginePlugin>("data_processing_engine", "1.0.0")
                  : load(DATA_PROCESSING_ENGINE_PLUGIN);
    engine_->provideFake<store::Store>(lookup<store::Store>(*store_), "storage_sqlite");
    engine_->provideFake<bus::Bus>(lookup<bus::Bus>(*bus_), "communication_engine");
    engine_->provideFake<tasks::TaskService>(lookup<tasks::TaskService>(*tasks_), "task_manager");
    engine_->provideFake<http::RouteProvider>(lookup<http::RouteProvider>(*tasks_), "task_manager");
    engine_->setConfig(hive::testing::configFromPairs({{"reconcile_period", "50ms"},
                                                       {"input_dir", inputDir_},
                                                       {"output_dir", base_ + "-dirs/out"},
                                                       {"max_items", "1000"},
                                                       {"max_chunks", "50"},
                                                       {"max_parallelism", "8"},
                                                       {"max_input_bytes", "65536"}}));
    ASSERT_FALSE(engine_->configure().hasErrors());
    Status started = engine_->start();
    ASSERT_TRUE(started.ok()) << started.toString();
  }

  void stopEngine() {
    if (!engine_) return;
    engine_->plugin().beginDrain();
    EXPECT_TRUE(until([&] { return engine_->plugin().drained(); }));
    // The worker may be inside a call to task_manager: keep serving it while it stops.
    std::atomic<bool> stopped = false;
    std::thread stopper([&] {
      engine_->stop();
      stopped = true;
    });
    until([&] { return stopped.load(); });
    stopper.join();
    engine_.reset();
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

  template <class F>
  bool until(F done, std::chrono::milliseconds limit = std::chrono::seconds(15)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (engine_) engine_->runPending();
      tasks_->runPending();
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return done();
  }

  // A request on another thread while this one runs the plugins' posted work.
  Result<http::Response> send(hive::testing::RouteClient& client, std::string_view method,
                              const std::string& target, std::string body = {},
                              std::vector<http::Header> headers = {}) {
    std::atomic<bool> answered = false;
    Result<http::Response> response = unavailable("no answer");
    std::thread caller([&] {
      response = client.request(method, target, std::move(body), std::move(headers));
      answered = true;
    });
    until([&] { return answered.load(); });
    caller.join();
    return response;
  }
  http::Response call(std::string_view method, std::string target, std::string body = {},
                      std::vector<http::Header> headers = {}) {
    hive::testing::RouteClient client(engine_->services(), "data_processing_engine", {.principal = "test"});
    Result<http::Response> response = send(client, method, target, std::move(body), std::move(headers));
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

  std::string batchOf(std::size_t items, int chunkSize, int parallelism, int retries = 2) {
    json::array list;
    for (std::size_t i = 0; i < items; ++i) list.push_back(json::value(static_cast<std::int64_t>(i)));
    json::object body{
        {"input", {{"items", list}}},
        {"chunk_size", chunkSize},
        {"parallelism", parallelism},
        {"retries", retries},
        {"task", {{"type", "double"}, {"capabilities", {"shell"}}, {"payload", {{"factor", 2}}}}}};
    json::object created = callJson("POST", "/api/v2/batches", 201, json::serialize(body));
    EXPECT_EQ(created["total"], items);
    EXPECT_EQ(created["status"], "running");
    return std::string(created["id"].as_string());
  }
  json::object batch(const std::string& id) { return callJson("GET", "/api/v2/batches/" + id, 200); }
  std::string status(const std::string& id) { return std::string(batch(id)["status"].as_string()); }

  // The agent: claims what is there (at most `limit`), remembering what it holds.
  std::vector<tasks::Assignment> claim(std::size_t limit = 16) {
    auto service = lookup<tasks::TaskService>(*tasks_);
    auto claimed = service->claim("agent-1", {"shell"}, limit);
    EXPECT_TRUE(claimed.ok()) << claimed.status().toString();
    for (auto& assignment : *claimed) {
      EXPECT_TRUE(service->started(assignment.taskId, assignment.leaseToken).ok());
      ++claims_[assignment.taskId];
    }
    return claimed.ok() ? *claimed : std::vector<tasks::Assignment>{};
  }
  // Answers {"results": [item * factor, ...]}, or fails chunks in `failing`.
  void answer(const tasks::Assignment& assignment, const std::set<std::int64_t>& failing = {}) {
    auto service = lookup<tasks::TaskService>(*tasks_);
    json::object payload = json::parse(assignment.payload).as_object();
    if (failing.count(payload.at("chunk").as_int64())) {
      EXPECT_TRUE(
          service->failed(assignment.taskId, assignment.leaseToken, "chunk refused", tasks::Retry::kNever)
              .ok());
      return;
    }
    json::array results;
    for (const json::value& item : payload.at("items").as_array())
      results.push_back(json::value(item.as_int64() * payload.at("factor").as_int64()));
    EXPECT_TRUE(service
                    ->succeeded(assignment.taskId, assignment.leaseToken,
                                json::serialize(json::object{{"results", results}}))
                    .ok());
  }
  void work(const std::string& id, const std::set<std::int64_t>& failing = {}) {
    ASSERT_TRUE(until(
        [&] {
          for (auto& assignment : claim()) answer(assignment, failing);
          return status(id) != "running";
        },
        std::chrono::seconds(20)));
  }

  std::string base_ = ::testing::TempDir() + "batches-test-" + std::to_string(::getpid()) + "-" +
                      ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::string inputDir_ = base_ + "-dirs/in";
  std::unique_ptr<PluginHarness> bus_, store_, tasks_, engine_;
  std::map<std::string, int> claims_;
};

using plugin_common::SwitchedGate;

// A new batch is new work, refused while admission is closed; the chunks of
// a batch admitted before are submitted all the same.
TEST_F(BatchesTest, ANewBatchIsRefusedWhileAdmissionIsClosedAndAnAdmittedBatchsChunksAreNot) {
  auto gate = std::make_shared<SwitchedGate>();
  engine_->provideFake<admission::Gate>(gate, "resource_manager");
  tasks_->provideFake<admission::Gate>(gate, "resource_manager");
  json::object body{
      {"input", {{"items", {1, 2, 3}}}},
      {"chunk_size", 1},
      {"task", {{"type", "double"}, {"capabilities", {"shell"}}, {"payload", {{"factor", 2}}}}}};
  http::Response refused = call("POST", "/api/v2/batches", json::serialize(body));
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.body.find("Hive is saturated: test (batch)"), std::string::npos) << refused.body;
  EXPECT_TRUE(callJson("GET", "/api/v2/batches", 200)["items"].as_array().empty()) << "nothing was stored";

  gate->closed = false;
  std::string id = batchOf(6, 2, 3);
  gate->closed = true;
  work(id);
  EXPECT_EQ(batch(id)["status"], "succeeded") << json::serialize(batch(id));
}

// A batch is its creator's tenant's: another tenant's is "not found" on every
// route and not listed; its chunks' tasks are the tenant's (only its agents
// take them); its Idempotency-Key is per tenant; a named tenant's input file
// is read under tenants/<tenant>/, and the default tenant reads none there.
TEST_F(BatchesTest, ABatchAndItsTasksBelongToTheTenantThatMadeIt) {
  auto tenancy = std::make_shared<plugin_common::TenantsByName>();
  engine_->provideFake<tenancy::Tenancy>(tenancy, "security_manager");
  tasks_->provideFake<tenancy::Tenancy>(tenancy, "security_manager");
  auto as = [&](const std::string& principal, std::string_view method, const std::string& target, int status,
                std::string body = {}, std::vector<http::Header> headers = {}) {
    hive::testing::RouteClient client(engine_->services(), "data_processing_engine",
                                      {.principal = principal});
    Result<http::Response> response = send(client, method, target, std::move(body), std::move(headers));
    EXPECT_TRUE(response.ok() && response->status == status)
        << principal << " " << method << " " << target << ": "
        << (response.ok() ? std::to_string(response->status) + " " + response->body
                          : response.status().toString());
    std::error_code ec;
    json::value parsed = json::parse(response.ok() ? response->body : "", ec);
    return parsed.is_object() ? parsed.get_object() : json::object{};
  };
  const std::string body =
      R"({"input": {"items": [1, 2, 3, 4]}, "chunk_size": 2, "task": {"type": "double", "capabilities": ["shell"], "payload": {"factor": 2}}})";
  const std::vector<http::Header> key{{"idempotency-key", "nightly"}};
  json::object acme = as("acme", "POST", "/api/v2/batches", 201, body, key);
  const std::string id(acme["id"].as_string());
  EXPECT_EQ(acme["tenant"], "acme");
  EXPECT_EQ(as("acme", "POST", "/api/v2/batches", 200, body, key)["id"], json::value(id));
  json::object globex = as("globex", "POST", "/api/v2/batches", 201, body, key);
  EXPECT_NE(globex["id"], json::value(id)) << "the same key in another tenant is another batch";

  for (const char* suffix : {"", "/results", "/output"})
    as("globex", "GET", "/api/v2/batches/" + id + suffix, 404);
  as("globex", "POST", "/api/v2/batches/" + id + "/cancel", 404);
  auto listed = [&](const std::string& principal, const std::string& query = "") {
    std::set<std::string> ids;
    json::object page = as(principal, "GET", "/api/v2/batches" + query, 200);
    for (const auto& item : page["items"].as_array())
      ids.insert(std::string(item.as_object().at("id").as_string()));
    return ids;
  };
  EXPECT_EQ(listed("acme"), std::set<std::string>{id});
  EXPECT_TRUE(listed("").empty());
  EXPECT_EQ(listed("admin").size(), 2u);
  EXPECT_EQ(listed("admin", "?tenant=acme"), std::set<std::string>{id});
  as("globex", "POST", "/api/v2/batches/" + std::string(globex["id"].as_string()) + "/cancel", 200);

  // Its chunks' tasks are acme's: the default tenant's agent takes none, acme's takes them all.
  auto service = lookup<tasks::TaskService>(*tasks_);
  auto tasksOf = [&](const std::string& principal) {
    hive::testing::RouteClient client(lookup<http::RouteProvider>(*tasks_), {.principal = principal});
    auto listed = send(client, "GET", "/api/v2/tasks?limit=100");
    return listed.ok() ? json::parse(listed->body).at("items").as_array() : json::array{};
  };
  ASSERT_TRUE(until([&] { return !tasksOf("acme").empty(); }));  // the worker submitted a chunk
  EXPECT_EQ(tasksOf("acme")[0].at("tenant"), "acme");
  EXPECT_TRUE(tasksOf("").empty());
  EXPECT_TRUE(claim().empty()) << "a batch's tasks are its tenant's";
  ASSERT_TRUE(until(
      [&] {
        auto claimed = service->claim("acme-agent", {"shell", "tenant:acme"}, 16);
        for (auto& assignment : claimed.ok() ? *claimed : std::vector<tasks::Assignment>{}) {
          EXPECT_TRUE(service->started(assignment.taskId, assignment.leaseToken).ok());
          answer(assignment);
        }
        return as("acme", "GET", "/api/v2/batches/" + id, 200)["status"] != "running";
      },
      std::chrono::seconds(20)));
  EXPECT_EQ(as("acme", "GET", "/api/v2/batches/" + id, 200)["status"], "succeeded");

  // Input files: a named tenant's under tenants/<tenant>/, the default tenant's not there.
  std::filesystem::create_directories(inputDir_ + "/tenants/acme");
  std::ofstream(inputDir_ + "/tenants/acme/items.jsonl") << "1\n2\n";
  std::ofstream(inputDir_ + "/shared.jsonl") << "3\n";
  const std::string fromFile =
      R"({"input": {"file": "items.jsonl"}, "task": {"type": "double", "capabilities": ["shell"]}})";
  EXPECT_EQ(as("acme", "POST", "/api/v2/batches", 201, fromFile)["total"], 2);
  as("globex", "POST", "/api/v2/batches", 422, fromFile);
  as("acme", "POST", "/api/v2/batches", 422,
     R"({"input": {"file": "../../shared.jsonl"}, "task": {"type": "double", "capabilities": ["shell"]}})");
  json::object refused = as("", "POST", "/api/v2/batches", 422,
                            R"({"input": {"file": "tenants/acme/items.jsonl"}, "task": {"type": "double"}})");
  EXPECT_NE(json::serialize(refused).find("tenants/"), std::string::npos) << json::serialize(refused);
  EXPECT_EQ(
      as("", "POST", "/api/v2/batches", 201,
         R"({"input": {"file": "shared.jsonl"}, "task": {"type": "double", "capabilities": ["shell"]}})")
          ["total"],
      1);
}

TEST_F(BatchesTest, ChunksRunUpToTheParallelismAndTheOutputHasEveryItemInOrder) {
  auto events = std::make_shared<std::vector<std::string>>();
  auto mutex = std::make_shared<std::mutex>();
  auto subscription = lookup<bus::Bus>(*bus_)->subscribe("batches.*", [=](const bus::Event& event) {
    std::lock_guard lock(*mutex);
    events->push_back(std::string(json::parse(event.payload).at("event").as_string()));
  });
  std::string id = batchOf(10, 3, 2);
  json::object started = batch(id);
  EXPECT_EQ(started["total"], 10);
  EXPECT_EQ(started["chunks"].at("total"), 4);
  // Never more than 2 chunks' tasks out at once: hold what is claimed a while.
  std::vector<tasks::Assignment> held;
  ASSERT_TRUE(until([&] {
    for (auto& assignment : claim()) held.push_back(assignment);
    return held.size() == 2;
  }));
  until([] { return false; }, std::chrono::milliseconds(300));
  EXPECT_TRUE(claim().empty());
  for (auto& assignment : held) answer(assignment);
  work(id);
  json::object done = batch(id);
  EXPECT_EQ(done["status"], "succeeded") << json::serialize(done);
  EXPECT_EQ(done["done"], 10);
  EXPECT_EQ(done["failed"], 0);
  http::Response output = call("GET", "/api/v2/batches/" + id + "/output");
  ASSERT_EQ(output.status, 200) << output.body;
  EXPECT_EQ(output.contentType, "application/x-ndjson");
  std::istringstream lines(output.body);
  std::string line;
  std::int64_t expected = 0;
  while (std::getline(lines, line)) {
    json::object row = json::parse(line).as_object();
    EXPECT_EQ(row["item"], expected);
    EXPECT_EQ(row["result"], expected * 2);
    ++expected;
  }
  EXPECT_EQ(expected, 10);
  EXPECT_EQ(claims_.size(), 4u);  // one task per chunk
  json::object page = callJson("GET", "/api/v2/batches/" + id + "/results?limit=3", 200);
  EXPECT_EQ(page["items"].as_array().size(), 3u);
  EXPECT_EQ(page["items"].at(0).at("chunk"), 0);
  EXPECT_TRUE(page.contains("next_cursor"));
  std::lock_guard lock(*mutex);
  EXPECT_EQ(events->front(), "batch.created");
  EXPECT_EQ(events->back(), "batch.succeeded");
}

TEST_F(BatchesTest, AFailingChunkIsRetriedThenReportedItemByItem) {
  std::string id = batchOf(6, 2, 4, 1);
  work(id, {1});
  json::object done = batch(id);
  EXPECT_EQ(done["status"], "failed");
  EXPECT_EQ(done["done"], 4);
  EXPECT_EQ(done["failed"], 2);
  EXPECT_EQ(done["chunks"].at("retried"), 1);
  EXPECT_EQ(claims_.size(), 4u);  // 3 chunks + one retry of chunk 1
  http::Response output = call("GET", "/api/v2/batches/" + id + "/output");
  std::istringstream lines(output.body);
  std::vector<json::object> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(json::parse(line).as_object());
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[2]["status"], "failed");
  EXPECT_EQ(rows[2]["input"], 2);
  EXPECT_EQ(rows[3]["item"], 3);
  EXPECT_EQ(rows[3]["error"], "chunk refused");
  EXPECT_EQ(rows[4]["result"], 8);
}

TEST_F(BatchesTest, ARestartResumesWithoutSubmittingAFinishedChunkAgain) {
  std::string id = batchOf(12, 2, 2);
  std::size_t answered = 0;
  ASSERT_TRUE(until([&] {
    for (auto& assignment : claim(1)) {
      answer(assignment);
      ++answered;
    }
    return answered == 3;
  }));
  // One more claimed and not answered when the engine goes: it is finished by the next one.
  std::vector<tasks::Assignment> open;
  ASSERT_TRUE(until([&] {
    for (auto& assignment : claim(1)) open.push_back(assignment);
    return !open.empty();
  }));
  startEngine(Build::kSharedLibrary);
  for (auto& assignment : open) answer(assignment);
  work(id);
  EXPECT_EQ(status(id), "succeeded");
  EXPECT_EQ(batch(id)["done"], 12);
  EXPECT_EQ(claims_.size(), 6u);  // 6 chunks, 6 tasks: none submitted twice
  for (const auto& [task, times] : claims_) EXPECT_EQ(times, 1) << task;
}

TEST_F(BatchesTest, LimitsAndBadInputsAreRefusedWithTheFieldAndNothingIsStored) {
  auto refused = [&](const std::string& body, int status, const std::string& what) {
    http::Response response = call("POST", "/api/v2/batches", body);
    EXPECT_EQ(response.status, status) << body << ": " << response.body;
    EXPECT_NE(response.body.find(what), std::string::npos) << response.body;
  };
  const std::string task = R"("task": {"type": "t", "capabilities": ["shell"]})";
  refused(R"({"input": {"items": [1]}, "parallelism": 9, )" + task + "}", 422, "/parallelism");
  refused(R"({"input": {"items": [1]}, "chunk_size": 0, )" + task + "}", 422, "/chunk_size");
  refused(R"({"input": {"items": []}, )" + task + "}", 422, "has no items");
  refused(R"({"input": {"items": [1], "file": "x"}, )" + task + "}", 422, "exactly one of items and file");
  refused(R"({"input": {"items": [1]}, "task": {"type": "t", "depends_on": ["x"]}})", 422,
          "/task/depends_on");
  refused(R"({"input": {"items": [1]}, "task": {"capabilities": []}})", 422, "/task/type");
  refused(R"({"input": {"file": "../../etc/passwd"}, )" + task + "}", 422, "/input/file");
  json::array many;
  for (int i = 0; i < 1001; ++i) many.push_back(i);
  refused(R"({"input": {"items": )" + json::serialize(many) + "}, " + task + "}", 413, "max_items");
  json::array items;
  for (int i = 0; i < 51; ++i) items.push_back(i);
  refused(R"({"input": {"items": )" + json::serialize(items) + R"(}, "chunk_size": 1, )" + task + "}", 413,
          "more than max_chunks 50");
  std::ofstream(inputDir_ + "/bad.csv") << "a,b\n1,2\n3\n";
  refused(R"({"input": {"file": "bad.csv", "format": "csv"}, )" + task + "}", 422, "line 3");
  refused("not json", 400, "not JSON");
  EXPECT_EQ(callJson("GET", "/api/v2/batches", 200)["items"].as_array().size(), 0u);
}

TEST_F(BatchesTest, ACsvFileUnderTheInputDirectoryIsReadAndAnIdempotencyKeyAnswersTheSameBatch) {
  std::ofstream(inputDir_ + "/people.csv") << "name,age\nada,36\nbob,41\ncy,7\n";
  std::string body = R"({"input": {"file": "people.csv", "format": "csv"}, "chunk_size": 2,
                          "task": {"type": "t", "capabilities": ["shell"]}})";
  http::Response first = call("POST", "/api/v2/batches", body, {{"idempotency-key", "k1"}});
  ASSERT_EQ(first.status, 201) << first.body;
  http::Response again = call("POST", "/api/v2/batches", body, {{"idempotency-key", "k1"}});
  EXPECT_EQ(again.status, 200);
  std::string id(json::parse(first.body).at("id").as_string());
  EXPECT_EQ(json::parse(again.body).at("id").as_string(), id);
  std::vector<json::value> payloads;
  ASSERT_TRUE(until([&] {
    for (auto& assignment : claim()) {
      payloads.push_back(json::parse(assignment.payload));
      EXPECT_TRUE(lookup<tasks::TaskService>(*tasks_)
                      ->succeeded(assignment.taskId, assignment.leaseToken, "{}")
                      .ok());
    }
    return status(id) != "running";
  }));
  ASSERT_EQ(payloads.size(), 2u);
  std::sort(payloads.begin(), payloads.end(), [](const json::value& a, const json::value& b) {
    return a.at("chunk").as_int64() < b.at("chunk").as_int64();
  });
  EXPECT_EQ(payloads[0].at("items"), json::parse(R"([{"name":"ada","age":"36"},{"name":"bob","age":"41"}])"));
  EXPECT_EQ(payloads[1].at("first_item"), 2);
  EXPECT_EQ(callJson("GET", "/api/v2/batches", 200)["items"].as_array().size(), 1u);
}

TEST_F(BatchesTest, CancellingARunningBatchCancelsItsSubmittedTasksAndSubmitsNoMore) {
  std::string id = batchOf(8, 2, 2);
  std::vector<tasks::Assignment> held;
  ASSERT_TRUE(until([&] {
    for (auto& assignment : claim()) held.push_back(assignment);
    return held.size() == 2;
  }));
  json::object cancelled = callJson("POST", "/api/v2/batches/" + id + "/cancel", 200);
  EXPECT_EQ(cancelled["status"], "cancelling");
  ASSERT_TRUE(until([&] { return status(id) == "cancelled"; }));
  hive::testing::RouteClient tasks(tasks_->services(), "task_manager");
  for (const auto& assignment : held) {
    std::atomic<bool> answered = false;
    Result<http::Response> response = unavailable("no answer");
    std::thread caller([&] {
      response = tasks.request("GET", "/api/v2/tasks/" + assignment.taskId);
      answered = true;
    });
    until([&] { return answered.load(); });
    caller.join();
    ASSERT_TRUE(response.ok());
    EXPECT_EQ(json::parse(response->body).at("status"), "cancelled") << response->body;
  }
  until([] { return false; }, std::chrono::milliseconds(300));
  EXPECT_TRUE(claim().empty());  // the other 2 chunks were never submitted
  EXPECT_EQ(claims_.size(), 2u);
  EXPECT_EQ(status(id), "cancelled");
  callJson("POST", "/api/v2/batches/" + id + "/cancel", 409);
  callJson("POST", "/api/v2/batches/nope/cancel", 404);
  EXPECT_EQ(call("GET", "/api/v2/batches/" + id + "/output").status, 404);
}

}  // namespace
}  // namespace hive::data_processing_engine
