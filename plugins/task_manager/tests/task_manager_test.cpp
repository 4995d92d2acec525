// task_manager against the real storage_sqlite plugin: both loaded from their
// .so files through the SDK harness, the store lent to task_manager as its
// hive.store/1 provider. HTTP handlers are called through the route service,
// the orchestrator's side through hive.tasks/1.
#include <thread>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tasks.hpp"
#include "hive/testing/harness.hpp"

namespace hive::task_manager {
namespace {

namespace json = boost::json;
using testing::PluginHarness;

class TaskManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = PluginHarness::loadLibrary(STORAGE_SQLITE_PLUGIN);
    ASSERT_TRUE(store.ok()) << store.status().toString();
    storeHarness_ = std::move(store).value();
    ASSERT_TRUE(storeHarness_->start().ok());
    auto leases = storeHarness_->services().lookup(store::Store::kServiceId);
    ASSERT_EQ(leases.size(), 1u);
    auto manager = PluginHarness::loadLibrary(TASK_MANAGER_PLUGIN);
    ASSERT_TRUE(manager.ok()) << manager.status().toString();
    harness_ = std::move(manager).value();
    harness_->provideFake<store::Store>(std::static_pointer_cast<store::Store>(leases[0].service),
                                        "storage_sqlite");
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

  virtual ConfigNode config() {
    return hive::testing::configFromPairs({{"retry_base", "10ms"}, {"retry_max", "20ms"}});
  }

  void TearDown() override {
    routes_ = {};
    tasks_ = {};
    harness_.reset();
    storeHarness_.reset();
  }

  http::Response call(const std::string& method, const std::string& path, const std::string& body = {},
                      std::vector<http::Header> headers = {}) {
    std::string routeId;
    http::Request request;
    request.method = method;
    request.path = path;
    request.body = body;
    request.headers = std::move(headers);
    // The route table the server would build, matched by hand.
    for (const auto& route : routes_->routes()) {
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
      routeId = route.id;
      request.params = params;
      break;
    }
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

  std::string submit(const std::string& body, int expected = 201) {
    auto response = call("POST", "/api/v2/tasks", body);
    EXPECT_EQ(response.status, expected) << response.body;
    if (response.status != 201) return {};
    return std::string(json::parse(response.body).as_object().at("id").as_string());
  }

  json::object task(const std::string& id) {
    auto response = call("GET", "/api/v2/tasks/" + id);
    EXPECT_EQ(response.status, 200) << response.body;
    return json::parse(response.body).as_object();
  }

  std::string status(const std::string& id) { return std::string(task(id).at("status").as_string()); }

  static std::vector<std::string> split(const std::string& text, char by = '/') {
    std::vector<std::string> out;
    std::size_t at = 0;
    for (std::size_t next; at <= text.size(); at = next + 1) {
      next = text.find(by, at);
      if (next == std::string::npos) next = text.size();
      if (next > at) out.push_back(text.substr(at, next - at));
    }
    return out;
  }

  std::vector<tasks::Assignment> claim(const std::string& agent, std::vector<std::string> capabilities = {},
                                       std::size_t max = 10) {
    auto claimed = tasks_->claim(agent, capabilities, max);
    EXPECT_TRUE(claimed.ok()) << claimed.status().toString();
    return claimed.ok() ? *claimed : std::vector<tasks::Assignment>{};
  }

  void sweep() {
    harness_->advanceTime(std::chrono::seconds(1));
    harness_->runPending();
  }

  std::unique_ptr<PluginHarness> storeHarness_;
  std::unique_ptr<PluginHarness> harness_;
  ServiceRef<http::RouteProvider> routes_;
  ServiceRef<tasks::TaskService> tasks_;
};

TEST_F(TaskManagerTest, SubmitGetAndListWithFilters) {
  std::string a = submit(R"({"type":"build","title":"one","payload":{"repo":"x"},"priority":"HIGH"})");
  std::string b = submit(R"({"type":"test","capabilities":["python"]})");
  auto created = task(a);
  EXPECT_EQ(created.at("status").as_string(), "pending");
  EXPECT_EQ(created.at("priority").as_int64(), 8);
  EXPECT_EQ(created.at("payload").as_object().at("repo").as_string(), "x");
  EXPECT_FALSE(created.contains("lease_token")) << "the lease token is never shown";

  auto all = json::parse(call("GET", "/api/v2/tasks").body).as_object();
  EXPECT_EQ(all.at("items").as_array().size(), 2u);
  auto tests = json::parse(call("GET", "/api/v2/tasks?type=test").body).as_object();
  ASSERT_EQ(tests.at("items").as_array().size(), 1u);
  EXPECT_EQ(tests.at("items").as_array()[0].as_object().at("id").as_string(), b);
  auto python = json::parse(call("GET", "/api/v2/tasks?capability=python").body).as_object();
  EXPECT_EQ(python.at("items").as_array().size(), 1u);

  // Pagination: three pages of one, then none.
  submit(R"({"type":"build"})");
  std::set<std::string> seen;
  std::string cursor;
  for (int page = 0; page < 3; ++page) {
    auto body =
        json::parse(call("GET", "/api/v2/tasks?limit=1" + (cursor.empty() ? "" : "&cursor=" + cursor)).body)
            .as_object();
    ASSERT_EQ(body.at("items").as_array().size(), 1u);
    seen.insert(std::string(body.at("items").as_array()[0].as_object().at("id").as_string()));
    cursor = body.contains("next_cursor") ? std::string(body.at("next_cursor").as_string()) : "";
  }
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_TRUE(cursor.empty());
  EXPECT_EQ(call("GET", "/api/v2/tasks/t000nothere").status, 404);
}

TEST_F(TaskManagerTest, InvalidSubmissionsAreRefusedWithFieldErrors) {
  auto response =
      call("POST", "/api/v2/tasks", R"({"title":5,"priority":11,"capabilities":["Bad Name"],"colour":1})");
  EXPECT_EQ(response.status, 422);
  EXPECT_EQ(response.contentType, "application/problem+json");
  auto errors = json::parse(response.body).as_object().at("errors").as_array();
  std::set<std::string> fields;
  for (const auto& e : errors) fields.insert(std::string(e.as_object().at("field").as_string()));
  EXPECT_THAT(fields,
              ::testing::IsSupersetOf({"/type", "/title", "/priority", "/capabilities/0", "/colour"}));
  EXPECT_EQ(call("POST", "/api/v2/tasks", "{not json").status, 400);
  EXPECT_EQ(call("POST", "/api/v2/tasks", "[1,2]").status, 400);
  EXPECT_EQ(call("POST", "/api/v2/tasks", R"({"type":"x"})", {{"content-type", "text/plain"}}).status, 415);
  std::string deep(100000, '[');
  EXPECT_EQ(call("POST", "/api/v2/tasks", deep).status, 400) << "nesting is limited";
  EXPECT_EQ(call("POST", "/api/v2/tasks", R"({"type":"x","depends_on":["t404"]})").status, 422);
  auto all = json::parse(call("GET", "/api/v2/tasks").body).as_object();
  EXPECT_TRUE(all.at("items").as_array().empty()) << "nothing was stored";
}

TEST_F(TaskManagerTest, IdempotencyKeyReplaysTheSameTaskAndRefusesAnotherBody) {
  std::vector<http::Header> key{{"idempotency-key", "order-42"}};
  auto first = call("POST", "/api/v2/tasks", R"({"type":"build"})", key);
  ASSERT_EQ(first.status, 201);
  auto again = call("POST", "/api/v2/tasks", R"({"type":"build"})", key);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(json::parse(again.body).as_object().at("id"), json::parse(first.body).as_object().at("id"));
  auto other = call("POST", "/api/v2/tasks", R"({"type":"deploy"})", key);
  EXPECT_EQ(other.status, 422) << other.body;
  EXPECT_EQ(json::parse(call("GET", "/api/v2/tasks").body).as_object().at("items").as_array().size(), 1u);
}

TEST_F(TaskManagerTest, ClaimMatchesCapabilitiesAndPriority) {
  std::string low = submit(R"({"type":"a","priority":1})");
  std::string high = submit(R"({"type":"a","priority":10})");
  std::string python = submit(R"({"type":"a","priority":10,"capabilities":["python"]})");
  auto first = claim("agent-1", {"go"}, 1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].taskId, high);
  EXPECT_EQ(status(high), "assigned");
  EXPECT_EQ(task(high).at("agent").as_string(), "agent-1");
  auto second = claim("agent-1", {"go"}, 5);
  ASSERT_EQ(second.size(), 1u) << "the python task needs python";
  EXPECT_EQ(second[0].taskId, low);
  auto third = claim("agent-2", {"python", "go"}, 5);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].taskId, python);
  EXPECT_TRUE(claim("agent-3", {"python"}).empty());
}

TEST_F(TaskManagerTest, LifecycleToSucceededWithEventsAndResult) {
  std::string id = submit(R"({"type":"a"})");
  auto assigned = claim("agent-1");
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_EQ(assigned[0].attempt, 1u);
  ASSERT_TRUE(tasks_->started(id, assigned[0].leaseToken).ok());
  EXPECT_EQ(status(id), "running");
  ASSERT_TRUE(tasks_->progress(id, assigned[0].leaseToken, R"({"percent":50})").ok());
  ASSERT_TRUE(tasks_->succeeded(id, assigned[0].leaseToken, R"({"answer":42})").ok());
  auto done = task(id);
  EXPECT_EQ(done.at("status").as_string(), "succeeded");
  EXPECT_EQ(done.at("result").as_object().at("answer").as_int64(), 42);
  EXPECT_EQ(done.at("progress").as_object().at("percent").as_int64(), 50);
  // A second report with the same token is refused: the state changes once.
  EXPECT_EQ(tasks_->succeeded(id, assigned[0].leaseToken, "{}").code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(claim("agent-2").empty());
  // Every change went to the durable event log.
  auto events = storeHarness_->services().get<store::Store>();
  ASSERT_TRUE(events.ok());
  auto log = (*events)->read("tasks", 0, 100);
  ASSERT_TRUE(log.ok());
  std::vector<std::string> types;
  for (const auto& e : *log) types.push_back(e.type);
  EXPECT_THAT(types, ::testing::ElementsAre("task.created", "task.assigned", "task.running", "task.progress",
                                            "task.succeeded", "task.stale_report"));
}

TEST_F(TaskManagerTest, RetriesWithBackoffThenDead) {
  std::string id = submit(R"({"type":"a","max_attempts":2})");
  auto first = claim("agent-1");
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(tasks_->failed(id, first[0].leaseToken, "boom", tasks::Retry::kAllowed).ok());
  EXPECT_EQ(status(id), "pending");
  std::vector<tasks::Assignment> second;
  for (int i = 0; i < 100 && second.empty(); ++i) {  // the backoff is 10-20 ms
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    second = claim("agent-1");
  }
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].attempt, 2u);
  ASSERT_TRUE(tasks_->failed(id, second[0].leaseToken, "boom again", tasks::Retry::kAllowed).ok());
  auto dead = task(id);
  EXPECT_EQ(dead.at("status").as_string(), "dead");
  EXPECT_THAT(std::string(dead.at("error").as_string()), ::testing::HasSubstr("boom again"));
  EXPECT_TRUE(claim("agent-1").empty());
  // A failure that is not worth retrying ends at once.
  std::string other = submit(R"({"type":"a","max_attempts":5})");
  auto claimed = claim("agent-1");
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(tasks_->failed(other, claimed[0].leaseToken, "bad input", tasks::Retry::kNever).ok());
  EXPECT_EQ(status(other), "failed");
}

TEST_F(TaskManagerTest, DependenciesRunInOrderAndAFailedOneKillsItsDependents) {
  std::string a = submit(R"({"type":"a"})");
  std::string b = submit(R"({"type":"b","depends_on":[")" + a + R"("]})");
  std::string c = submit(R"({"type":"c","depends_on":[")" + b + R"("]})");
  EXPECT_EQ(task(b).at("waiting_on").as_array().size(), 1u);
  auto first = claim("agent-1");
  ASSERT_EQ(first.size(), 1u) << "only the task without dependencies is runnable";
  EXPECT_EQ(first[0].taskId, a);
  ASSERT_TRUE(tasks_->succeeded(a, first[0].leaseToken, "{}").ok());
  auto second = claim("agent-1");
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].taskId, b);
  ASSERT_TRUE(tasks_->failed(b, second[0].leaseToken, "broken", tasks::Retry::kNever).ok());
  EXPECT_EQ(status(c), "dead") << "blocked by a failed dependency";
  EXPECT_THAT(std::string(task(c).at("error").as_string()), ::testing::HasSubstr(b));
  // Depending on a task that already failed: dead at once.
  std::string d = submit(R"({"type":"d","depends_on":[")" + b + R"("]})");
  EXPECT_EQ(status(d), "dead");
}

TEST_F(TaskManagerTest, AnExpiredLeaseGoesToAnotherAgentAndTheLateResultIsStale) {
  std::string id = submit(R"({"type":"a","timeout_seconds":1,"max_attempts":3})");
  auto slow = claim("slow-agent");
  ASSERT_EQ(slow.size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  sweep();
  auto swept = task(id);
  EXPECT_EQ(swept.at("status").as_string(), "pending");
  EXPECT_THAT(std::string(swept.at("error").as_string()), ::testing::HasSubstr("timed out"));
  auto fast = claim("fast-agent");
  ASSERT_EQ(fast.size(), 1u);
  EXPECT_NE(fast[0].leaseToken, slow[0].leaseToken);
  EXPECT_EQ(tasks_->succeeded(id, slow[0].leaseToken, R"({"by":"slow"})").code(),
            StatusCode::kFailedPrecondition);
  ASSERT_TRUE(tasks_->succeeded(id, fast[0].leaseToken, R"({"by":"fast"})").ok());
  auto done = task(id);
  EXPECT_EQ(done.at("status").as_string(), "succeeded");
  EXPECT_EQ(done.at("result").as_object().at("by").as_string(), "fast");
  EXPECT_EQ(done.at("agent").as_string(), "fast-agent");
  EXPECT_EQ(done.at("stale_reports").as_int64(), 1);
}

TEST_F(TaskManagerTest, TimeoutsExhaustAttemptsToDead) {
  std::string id = submit(R"({"type":"a","timeout_seconds":1,"max_attempts":1})");
  ASSERT_EQ(claim("agent-1").size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  sweep();
  EXPECT_EQ(status(id), "dead");
  EXPECT_TRUE(claim("agent-2").empty());
}

TEST_F(TaskManagerTest, CancelRemovesAPendingTaskAndRefusesAFinishedOne) {
  std::string id = submit(R"({"type":"a"})");
  auto cancelled = call("POST", "/api/v2/tasks/" + id + "/cancel");
  EXPECT_EQ(cancelled.status, 200);
  EXPECT_EQ(status(id), "cancelled");
  EXPECT_TRUE(claim("agent-1").empty());
  EXPECT_EQ(call("POST", "/api/v2/tasks/" + id + "/cancel").status, 409);
  auto stats = json::parse(call("GET", "/api/v2/tasks/stats").body).as_object();
  EXPECT_EQ(stats.at("by_status").as_object().at("cancelled").as_int64(), 1);
}

TEST_F(TaskManagerTest, EventLogIsReadableAndResumable) {
  std::string id = submit(R"({"type":"a"})");
  submit(R"({"type":"b"})");
  auto first = json::parse(call("GET", "/api/v2/tasks/events?limit=1").body).as_object();
  ASSERT_EQ(first.at("items").as_array().size(), 1u);
  auto event = first.at("items").as_array()[0].as_object();
  EXPECT_EQ(event.at("type").as_string(), "task.created");
  EXPECT_EQ(event.at("data").as_object().at("task").as_object().at("id").as_string(), id);
  auto rest =
      json::parse(
          call("GET", "/api/v2/tasks/events?after=" + std::to_string(first.at("last_id").as_int64())).body)
          .as_object();
  EXPECT_EQ(rest.at("items").as_array().size(), 1u);
  EXPECT_EQ(call("GET", "/api/v2/tasks/events?limit=0").status, 422);
}

TEST_F(TaskManagerTest, WorkWakeUpFiresOnSubmission) {
  std::atomic<int> wakeUps{0};
  auto subscription = tasks_->onWork([&] { ++wakeUps; });
  submit(R"({"type":"a"})");
  submit(R"({"type":"a"})");
  for (int i = 0; i < 200 && wakeUps == 0; ++i) {
    harness_->runPending();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GT(wakeUps.load(), 0);
  subscription.reset();
}

// What was accepted reads back byte for byte: numbers are not re-encoded
// (1.0 stays 1.0, not 1E0), spaces and escapes stay as sent.
TEST_F(TaskManagerTest, PayloadAndResultReadBackByteForByte) {
  const std::string payload =
      R"({ "a": 1.0, "b": [1e2, 0.1000000000000000055511151231257827], "max": 18446744073709551615,)"
      R"( "min": -9223372036854775808, "s": "\u00e9" })";
  std::string id = submit(R"({"type":"a","payload":)" + payload + "}");
  ASSERT_FALSE(id.empty());
  EXPECT_NE(call("GET", "/api/v2/tasks/" + id).body.find(R"("payload":)" + payload), std::string::npos);
  auto claimed = claim("agent-1");
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].payload, payload);
  const std::string result = R"({"ratio": 2.50, "count": 12345678901234567890})";
  ASSERT_TRUE(tasks_->succeeded(id, claimed[0].leaseToken, result).ok());
  EXPECT_NE(call("GET", "/api/v2/tasks/" + id).body.find(R"("result":)" + result), std::string::npos);
}

// A number no JSON reader could keep (beyond a double, beyond 64-bit
// integers, below a double's smallest) is refused with its place named,
// never stored as null or rounded.
TEST_F(TaskManagerTest, NumbersThatCannotBeKeptAreRefusedNamingTheField) {
  const std::string hundredDigits(100, '7');
  const std::pair<std::string, std::string> cases[] = {
      {R"({"x":{"y":[0,1e400]}})", "/payload/x/y/1"},
      {R"({"x":-1e400})", "/payload/x"},
      {R"({"big":)" + hundredDigits + "}", "/payload/big"},
      {R"({"neg":-)" + hundredDigits + "}", "/payload/neg"},
      {R"({"tiny":1e-400})", "/payload/tiny"},
      {R"({"a/b":18446744073709551616})", "/payload/a~1b"},
      {"1E+400", "/payload"},
      {R"({"zero":0e309})", "/payload/zero"},  // found by the task_submission fuzz target
  };
  for (const auto& [payload, field] : cases) {
    auto response = call("POST", "/api/v2/tasks", R"({"type":"a","payload":)" + payload + "}");
    EXPECT_EQ(response.status, 422) << payload << ": " << response.body;
    auto body = json::parse(response.body).as_object();
    ASSERT_TRUE(body.contains("errors")) << response.body;
    EXPECT_EQ(body.at("errors").as_array().at(0).as_object().at("field").as_string(), field) << payload;
  }
  EXPECT_TRUE(json::parse(call("GET", "/api/v2/tasks").body).as_object().at("items").as_array().empty());

  std::string id = submit(R"({"type":"a"})");
  auto claimed = claim("agent-1");
  ASSERT_EQ(claimed.size(), 1u);
  Status refused = tasks_->succeeded(id, claimed[0].leaseToken, R"({"v":1e400})");
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("/result/v"), std::string::npos) << refused.message();
  EXPECT_EQ(tasks_->progress(id, claimed[0].leaseToken, "[" + hundredDigits + "]").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(status(id), "assigned") << "a refused report changes nothing";
  EXPECT_TRUE(tasks_->succeeded(id, claimed[0].leaseToken, R"({"v":1e300})").ok());
  EXPECT_EQ(status(id), "succeeded");
}

// Far-future, negative and overflowing times are refused at the edge, and
// writes keep being answered.
TEST_F(TaskManagerTest, TimesOutsideTheirRangeAreRefused) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const std::int64_t day = 24 * 3600 * 1000;
  const std::string refused[] = {
      R"({"type":"x","not_before_ms":9223372036854775807})",
      R"({"type":"x","not_before_ms":18446744073709551615})",
      R"({"type":"x","not_before_ms":-1})",
      R"({"type":"x","not_before_ms":1e300})",
      R"({"type":"x","not_before_ms":)" + std::to_string(now + 400 * day) + "}",
      R"({"type":"x","timeout_seconds":1e300})",
      R"({"type":"x","timeout_seconds":-5})",
      R"({"type":"x","timeout_seconds":604801})",
  };
  for (const auto& body : refused) {
    auto response = call("POST", "/api/v2/tasks", body);
    EXPECT_EQ(response.status, 422) << body << ": " << response.body;
  }
  std::string later = submit(R"({"type":"x","not_before_ms":)" + std::to_string(now + 300 * day) + "}");
  EXPECT_EQ(status(later), "pending");
  auto started = std::chrono::steady_clock::now();
  std::string next = submit(R"({"type":"x"})");
  EXPECT_EQ(status(next), "pending");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));
}

}  // namespace
}  // namespace hive::task_manager

namespace hive::task_manager {
namespace {

std::int64_t countOf(const json::object& stats, const char* status) {
  return stats.at("by_status").as_object().at(status).as_int64();
}

TEST_F(TaskManagerTest, StatsCountEveryStatusChangeWithoutListing) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(submit(R"({"type":"a"})"));
  auto assigned = claim("agent-1", {}, 3);
  ASSERT_EQ(assigned.size(), 3u);
  ASSERT_TRUE(tasks_->started(assigned[0].taskId, assigned[0].leaseToken).ok());
  // Two results at once, as an agent's burst: one transaction.
  auto reports = tasks_->finish({{assigned[1].taskId,
                                  assigned[1].leaseToken,
                                  tasks::TaskService::Outcome::kSucceeded,
                                  "{}",
                                  {},
                                  tasks::Retry::kAllowed},
                                 {assigned[2].taskId,
                                  assigned[2].leaseToken,
                                  tasks::TaskService::Outcome::kFailed,
                                  {},
                                  "bad input",
                                  tasks::Retry::kNever}});
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_TRUE(reports[0].ok()) << reports[0].toString();
  EXPECT_TRUE(reports[1].ok()) << reports[1].toString();
  EXPECT_EQ(status(assigned[2].taskId), "failed");  // kNever: failed at once, not retried
  EXPECT_EQ(call("POST", "/api/v2/tasks/" + assigned[0].taskId + "/cancel").status, 200);
  auto stats = json::parse(call("GET", "/api/v2/tasks/stats").body).as_object();
  EXPECT_EQ(countOf(stats, "pending"), 2);
  EXPECT_EQ(countOf(stats, "assigned"), 0);
  EXPECT_EQ(countOf(stats, "running"), 0);
  EXPECT_EQ(countOf(stats, "succeeded"), 1);
  EXPECT_EQ(countOf(stats, "failed"), 1);
  EXPECT_EQ(countOf(stats, "cancelled"), 1);
  // The same counts as listing gives.
  for (const char* s : {"pending", "succeeded", "failed", "cancelled"}) {
    auto page = json::parse(call("GET", std::string("/api/v2/tasks?status=") + s).body).as_object();
    EXPECT_EQ(static_cast<std::int64_t>(page.at("items").as_array().size()), countOf(stats, s)) << s;
  }
  // A stale report in a burst changes nothing and is refused as alone.
  auto again = tasks_->finish({{assigned[1].taskId,
                                "stale-token",
                                tasks::TaskService::Outcome::kSucceeded,
                                "{}",
                                {},
                                tasks::Retry::kAllowed},
                               {assigned[1].taskId,
                                assigned[1].leaseToken,
                                tasks::TaskService::Outcome::kSucceeded,
                                "{}",
                                {},
                                tasks::Retry::kAllowed}});
  EXPECT_EQ(again[0].code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(again[1].code(), StatusCode::kAlreadyExists);  // the same report sent again
  stats = json::parse(call("GET", "/api/v2/tasks/stats").body).as_object();
  EXPECT_EQ(countOf(stats, "succeeded"), 1);
}

class RetentionTest : public TaskManagerTest {
 protected:
  ConfigNode config() override {
    auto section = hive::testing::configFromPairs(
        {{"retry_base", "10ms"}, {"retry_max", "20ms"}, {"retention", "1s"}, {"retention_period", "1s"}});
    if (keepType_) {
      auto byType = ConfigNode::map();
      byType.set("keep", ConfigNode::scalar("1h"));
      section.set("retention_by_type", std::move(byType));
    }
    return section;
  }
  bool keepType_ = true;
};

TEST_F(RetentionTest, FinishedTasksPastTheirRetentionAreDeletedWithTheirCountsAndKeys) {
  std::string keyed;
  {
    auto response = call("POST", "/api/v2/tasks", R"({"type":"a"})", {{"idempotency-key", "k1"}});
    ASSERT_EQ(response.status, 201);
    keyed = std::string(json::parse(response.body).as_object().at("id").as_string());
  }
  std::string a1 = submit(R"({"type":"a"})"), kept = submit(R"({"type":"keep"})");
  auto assigned = claim("agent-1", {}, 3);
  ASSERT_EQ(assigned.size(), 3u);
  for (const auto& a : assigned) ASSERT_TRUE(tasks_->succeeded(a.taskId, a.leaseToken, "{}").ok());
  std::string waiting = submit(R"({"type":"a"})");
  auto stats = json::parse(call("GET", "/api/v2/tasks/stats").body).as_object();
  EXPECT_EQ(countOf(stats, "succeeded"), 3);
  // Retention counts from when a task finished: 1 s here.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  sweep();
  EXPECT_EQ(call("GET", "/api/v2/tasks/" + keyed).status, 404);
  EXPECT_EQ(call("GET", "/api/v2/tasks/" + a1).status, 404);
  EXPECT_EQ(status(kept), "succeeded");   // its type keeps it 1 h
  EXPECT_EQ(status(waiting), "pending");  // not finished: never deleted
  stats = json::parse(call("GET", "/api/v2/tasks/stats").body).as_object();
  EXPECT_EQ(countOf(stats, "succeeded"), 1);
  EXPECT_EQ(countOf(stats, "pending"), 1);
  // Its Idempotency-Key went with it: the same key makes a new task.
  auto response = call("POST", "/api/v2/tasks", R"({"type":"a"})", {{"idempotency-key", "k1"}});
  EXPECT_EQ(response.status, 201) << response.body;
}

TEST_F(RetentionTest, TheEventLogIsTrimmedToTheLongestRetention) {
  keepType_ = false;
  TearDown();
  SetUp();
  std::string id = submit(R"({"type":"a"})");
  auto assigned = claim("agent-1");
  ASSERT_EQ(assigned.size(), 1u);
  ASSERT_TRUE(tasks_->succeeded(id, assigned[0].leaseToken, "{}").ok());
  auto store = storeHarness_->services().get<store::Store>();
  ASSERT_TRUE(store.ok());
  auto before = (*store)->read("tasks", 0, 100);
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 3u);  // created, assigned, succeeded
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  std::string later = submit(R"({"type":"a"})");
  sweep();
  auto after = (*store)->read("tasks", 0, 100);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 1u);  // only the later task's creation
  EXPECT_EQ(after->front().type, "task.created");
  EXPECT_GT(after->front().id, before->back().id);  // ids go on
  EXPECT_EQ(call("GET", "/api/v2/tasks/" + id).status, 404);
  EXPECT_EQ(status(later), "pending");
}

TEST(TaskManagerConfig, RetentionValuesAreChecked) {
  auto manager = PluginHarness::loadLibrary(TASK_MANAGER_PLUGIN);
  ASSERT_TRUE(manager.ok()) << manager.status().toString();
  auto section = hive::testing::configFromPairs({{"retention", "0s"}, {"retention_batch", "5000"}});
  auto byType = ConfigNode::map();
  byType.set("x", ConfigNode::scalar("soon"));
  section.set("retention_by_type", std::move(byType));
  (*manager)->setConfig(section);
  auto diagnostics = (*manager)->configure();
  std::string text = diagnostics.toString();
  EXPECT_THAT(text, ::testing::HasSubstr("'retention': must be between 1s"));
  EXPECT_THAT(text, ::testing::HasSubstr("'retention_batch': must be between 1 and 1000"));
  EXPECT_THAT(text, ::testing::HasSubstr("'x'"));
}

}  // namespace
}  // namespace hive::task_manager
