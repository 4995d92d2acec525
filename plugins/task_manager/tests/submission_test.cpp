#include <set>
#include <tuple>

#include "fixture.hpp"
#include "hive/services/admission.hpp"
#include "hive/services/tracing.hpp"
#include "task_model.hpp"

namespace hive::task_manager::testing {
namespace {

// hive.admission/1 that refuses everything, as resource_manager does while a limit is crossed.
class ClosedGate final : public admission::Gate {
 public:
  admission::Verdict admit(const admission::Work& work) override {
    asked.push_back(work);
    return {false, "Hive is saturated: 7 tasks wait to be claimed, the limit (max_waiting) is 5",
            std::chrono::seconds(4)};
  }
  std::vector<admission::Work> asked;
};

TEST_F(TaskManagerTest, AClientsSubmissionIsRefused503WhileAdmissionIsClosedAndNothingIsStored) {
  auto gate = std::make_shared<ClosedGate>();
  harness_->provideFake<admission::Gate>(gate, "resource_manager");
  EXPECT_EQ(call("POST", "/api/v2/tasks", R"({"type":1})").status, 422) << "a bad body still gets its 4xx";
  http::Response refused = call("POST", "/api/v2/tasks", R"({"type":"x","capabilities":["gpu"]})");
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.contentType, "application/problem+json");
  EXPECT_NE(refused.body.find("the limit (max_waiting) is 5"), std::string::npos) << refused.body;
  const std::string* retry = nullptr;
  for (const auto& header : refused.headers)
    if (header.name == "retry-after") retry = &header.value;
  ASSERT_NE(retry, nullptr);
  EXPECT_EQ(*retry, "4");
  ASSERT_EQ(gate->asked.size(), 1u);
  EXPECT_EQ(gate->asked[0].kind, "task");
  EXPECT_EQ(gate->asked[0].capabilities, std::vector<std::string>{"gpu"});
  EXPECT_EQ(countOf(stats(), "pending"), 0) << "nothing was stored";

  remote_.clear();  // another plugin's submission, in process (a workflow step): admitted at its own door
  submit(R"({"type":"x"})");
  EXPECT_EQ(countOf(stats(), "pending"), 1);
}

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
// The stored record leaves out the values read back as defaults: a task with
// every field at its default and one with none at its default both come back
// field for field, and the first is stored short.
TEST(TaskRecord, TheStoredFormLeavesOutDefaultsAndReadsBackTheSameTask) {
  auto same = [](const Task& a, const Task& b) {
    return std::tie(a.id, a.type, a.title, a.payload, a.capabilities, a.priority, a.effectivePriority,
                    a.dependsOn, a.waitingOn, a.timeoutMs, a.maxAttempts, a.notBeforeMs, a.status, a.attempts,
                    a.result, a.progress, a.error, a.agent, a.leaseToken, a.leaseExpiresMs, a.queue,
                    a.staleReports, a.reportedLease, a.reportedOutcome, a.idempotencyKey, a.traceparent,
                    a.tenant, a.project, a.createdAtMs, a.updatedAtMs, a.queuedAtMs, a.startedAtMs,
                    a.finishedAtMs) ==
           std::tie(b.id, b.type, b.title, b.payload, b.capabilities, b.priority, b.effectivePriority,
                    b.dependsOn, b.waitingOn, b.timeoutMs, b.maxAttempts, b.notBeforeMs, b.status, b.attempts,
                    b.result, b.progress, b.error, b.agent, b.leaseToken, b.leaseExpiresMs, b.queue,
                    b.staleReports, b.reportedLease, b.reportedOutcome, b.idempotencyKey, b.traceparent,
                    b.tenant, b.project, b.createdAtMs, b.updatedAtMs, b.queuedAtMs, b.startedAtMs,
                    b.finishedAtMs);
  };
  Task plain;
  plain.id = "t1";
  plain.payload = "";
  std::string stored = toStoredJson(plain);
  EXPECT_EQ(stored, R"({"id":"t1","status":"pending"})");
  auto back = fromStoredJson(stored);
  ASSERT_TRUE(back.ok()) << back.status().toString();
  EXPECT_TRUE(same(*back, plain));

  Task full;
  full.id = "t2";
  full.type = "build";
  full.title = "a title";
  full.payload = R"({"a":1})";
  full.capabilities = {"gpu", "linux"};
  full.priority = 0;  // not a default, though zero
  full.effectivePriority = 7;
  full.dependsOn = {"t0"};
  full.waitingOn = {"t0"};
  full.timeoutMs = 0;
  full.maxAttempts = 0;
  full.notBeforeMs = 11;
  full.status = TaskStatus::kFailed;
  full.attempts = 2;
  full.result = R"({"r":2})";
  full.progress = R"({"p":3})";
  full.error = "boom";
  full.agent = "a1";
  full.leaseToken = "lt";
  full.leaseExpiresMs = 12;
  full.queue = "q";
  full.staleReports = 1;
  full.reportedLease = "rl";
  full.reportedOutcome = "failed: boom";
  full.idempotencyKey = "k";
  full.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  full.tenant = "acme";
  full.project = "site";
  full.createdAtMs = 13;
  full.updatedAtMs = 14;
  full.queuedAtMs = 15;
  full.startedAtMs = 16;
  full.finishedAtMs = 17;
  back = fromStoredJson(toStoredJson(full));
  ASSERT_TRUE(back.ok()) << back.status().toString();
  EXPECT_TRUE(same(*back, full)) << toStoredJson(full);
}

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

}  // namespace
}  // namespace hive::task_manager::testing

namespace hive::task_manager::testing {
namespace {

class LimitsTest : public TaskManagerTest {
 protected:
  ConfigNode config() override {
    return hive::testing::configFromPairs(
        {{"max_attempts_limit", "2"}, {"max_timeout", "60s"}, {"max_payload_bytes", "1024"}});
  }
};

// The limits a submission is checked against are the configured ones (they
// were the defaults whatever the configuration said).
TEST_F(LimitsTest, SubmissionsAreCheckedAgainstTheConfiguredLimits) {
  EXPECT_EQ(call("POST", "/api/v2/tasks", R"({"type":"a","max_attempts":3})").status, 422);
  EXPECT_EQ(call("POST", "/api/v2/tasks", R"({"type":"a","timeout_seconds":61})").status, 422);
  auto large = call("POST", "/api/v2/tasks", R"({"type":"a","payload":")" + std::string(1100, 'x') + R"("})");
  EXPECT_EQ(large.status, 422) << large.body;
  EXPECT_THAT(large.body, ::testing::HasSubstr("/payload"));
  submit(R"({"type":"a","max_attempts":2,"timeout_seconds":60,"payload":"small"})");
}

}  // namespace
}  // namespace hive::task_manager::testing

namespace hive::task_manager::testing {
namespace {

// hive.tracing/1 as monitoring_engine provides it while spans are exported.
class CollectingSink final : public tracing::SpanSink {
 public:
  void record(tracing::Span span) override {
    std::lock_guard lock(mutex);
    spans.push_back(std::move(span));
  }
  std::vector<tracing::Span> named(const std::string& traceId) {
    std::lock_guard lock(mutex);
    std::vector<tracing::Span> out;
    for (const auto& span : spans)
      if (span.traceId == traceId && span.name == "store.transaction") out.push_back(span);
    return out;
  }
  std::mutex mutex;
  std::vector<tracing::Span> spans;
};

std::string attribute(const tracing::Span& span, const std::string& key) {
  for (const auto& a : span.attributes)
    if (a.key == key) return a.value;
  return "";
}

// transaction_spans: created (the default) spans a task's creation only; all, every change.
class TransactionSpansTest : public TaskManagerTest, public ::testing::WithParamInterface<std::string> {
 protected:
  ConfigNode config() override {
    auto section = TaskManagerTest::config();
    if (!GetParam().empty()) section.set("transaction_spans", ConfigNode::scalar(GetParam()));
    return section;
  }
};

TEST_P(TransactionSpansTest, AStoreTransactionOfATracedTaskIsASpanOfItsTrace) {
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string parent = "00f067aa0ba902b7";
  http::Response untraced = call("POST", "/api/v2/tasks", R"({"type":"x"})",
                                 {{"traceparent", "00-" + trace + "-" + parent + "-01"}});
  ASSERT_EQ(untraced.status, 201);
  EXPECT_TRUE(claim("agent-0").size() == 1u);

  auto sink = std::make_shared<CollectingSink>();
  harness_->provideFake<tracing::SpanSink>(sink, "monitoring_engine");
  http::Response submitted = call("POST", "/api/v2/tasks", R"({"type":"x"})",
                                  {{"traceparent", "00-" + trace + "-" + parent + "-01"}});
  ASSERT_EQ(submitted.status, 201);
  std::string id(json::parse(submitted.body).at("id").as_string());
  auto spans = sink->named(trace);
  if (GetParam() == "none") {
    EXPECT_TRUE(spans.empty());
    return;
  }
  ASSERT_EQ(spans.size(), 1u) << "the submission's transaction; none before the sink existed";
  EXPECT_EQ(spans[0].parentSpanId, parent);
  EXPECT_EQ(spans[0].spanId.size(), 16u);
  EXPECT_NE(spans[0].spanId, parent);
  EXPECT_TRUE(spans[0].ok);
  EXPECT_LE(spans[0].startUnixNano, spans[0].endUnixNano);
  EXPECT_EQ(attribute(spans[0], "hive.task.id"), id);
  EXPECT_EQ(attribute(spans[0], "hive.task.event"), "task.created");

  auto assigned = claim("agent-1");
  ASSERT_EQ(assigned.size(), 1u);
  ASSERT_TRUE(tasks_->succeeded(id, assigned[0].leaseToken, "{}").ok());
  spans = sink->named(trace);
  if (GetParam() == "all") {
    ASSERT_EQ(spans.size(), 3u) << "submit, claim, result";
    EXPECT_EQ(attribute(spans[1], "hive.task.event"), "task.assigned");
    EXPECT_EQ(attribute(spans[2], "hive.task.event"), "task.succeeded");
  } else {
    EXPECT_EQ(spans.size(), 1u) << "created: the creation only";
  }

  // A trace that is not sampled gets no span.
  ASSERT_EQ(call("POST", "/api/v2/tasks", R"({"type":"x"})",
                 {{"traceparent", "00-" + std::string(31, '1') + "2-" + parent + "-00"}})
                .status,
            201);
  EXPECT_TRUE(sink->named(std::string(31, '1') + "2").empty());

  // A task whose trace task_manager started (no traceparent sent): spanned with `all` only.
  http::Response own = call("POST", "/api/v2/tasks", R"({"type":"x"})");
  ASSERT_EQ(own.status, 201);
  std::string ownTrace = std::string(json::parse(own.body).at("traceparent").as_string()).substr(3, 32);
  EXPECT_EQ(sink->named(ownTrace).size(), GetParam() == "all" ? 1u : 0u);
}

INSTANTIATE_TEST_SUITE_P(Modes, TransactionSpansTest, ::testing::Values("", "all", "none"),
                         [](const auto& info) {
                           return info.param.empty() ? std::string("default") : info.param;
                         });

}  // namespace
}  // namespace hive::task_manager::testing
