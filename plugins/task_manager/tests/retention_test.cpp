// Retention on the manual clock: what is deleted, when, and what goes with it.
#include "fixture.hpp"

namespace hive::task_manager::testing {
namespace {

using std::chrono::milliseconds;

class RetentionTest : public TaskManagerTest {
 protected:
  ConfigNode config() override {
    auto section = hive::testing::configFromPairs(
        {{"retry_base", "10ms"}, {"retry_max", "20ms"}, {"sweep_period", "100ms"}});
    auto retention =
        hive::testing::configFromPairs({{"keep", keepAll_}, {"events", keepEvents_}, {"period", "1s"}});
    if (keepType_) {
      auto byType = ConfigNode::map();
      byType.set("keep", ConfigNode::scalar("1h"));
      retention.set("by_type", std::move(byType));
    }
    section.set("retention", std::move(retention));
    return section;
  }
  bool keepType_ = true;
  std::string keepAll_ = "1s";
  std::string keepEvents_ = "1s";
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
  EXPECT_EQ(countOf(stats(), "succeeded"), 3);
  // Retention counts from when a task finished: 1 s here. The sweep looks
  // first at 100 ms, then every second.
  advance(milliseconds(900));
  EXPECT_EQ(status(a1), "succeeded") << "within its retention";
  advance(milliseconds(200));
  EXPECT_EQ(call("GET", "/api/v2/tasks/" + keyed).status, 404);
  EXPECT_EQ(call("GET", "/api/v2/tasks/" + a1).status, 404);
  EXPECT_EQ(status(kept), "succeeded");   // its type keeps it 1 h
  EXPECT_EQ(status(waiting), "pending");  // not finished: never deleted
  EXPECT_EQ(countOf(stats(), "succeeded"), 1);
  EXPECT_EQ(countOf(stats(), "pending"), 1);
  // Its Idempotency-Key went with it: the same key makes a new task.
  auto response = call("POST", "/api/v2/tasks", R"({"type":"a"})", {{"idempotency-key", "k1"}});
  EXPECT_EQ(response.status, 201) << response.body;
}

// The event log keeps retention.events, whatever the tasks' own retention:
// a task's record outlives its events.
TEST_F(RetentionTest, TheEventLogKeepsItsOwnRetentionAndTheTaskOutlivesItsEvents) {
  keepType_ = false;
  keepAll_ = "1h";
  TearDown();
  SetUp();
  std::string id = submit(R"({"type":"a"})");
  auto assigned = claim("agent-1");
  ASSERT_EQ(assigned.size(), 1u);
  ASSERT_TRUE(tasks_->succeeded(id, assigned[0].leaseToken, "{}").ok());
  auto before = eventLog();
  ASSERT_EQ(before.size(), 3u);  // created, assigned, succeeded
  advance(milliseconds(1100));
  std::string later = submit(R"({"type":"a"})");
  sweep();
  auto after = eventLog();
  ASSERT_EQ(after.size(), 1u);  // only the later task's creation
  EXPECT_EQ(after.front().type, "task.created");
  EXPECT_GT(after.front().id, before.back().id);  // ids go on
  EXPECT_EQ(status(id), "succeeded") << "kept 1 h; only its events went";
  // A reader that had seen the first event is told the rest of them went.
  auto fromFirst =
      json::parse(call("GET", "/api/v2/tasks/events?after=" + std::to_string(before.front().id)).body)
          .as_object();
  EXPECT_EQ(fromFirst.at("items").as_array().size(), 1u);
  EXPECT_TRUE(fromFirst.contains("trimmed") && fromFirst.at("trimmed").as_bool());
  auto fromLast =
      json::parse(call("GET", "/api/v2/tasks/events?after=" + std::to_string(before.back().id)).body)
          .as_object();
  EXPECT_FALSE(fromLast.contains("trimmed")) << "nothing after the last one seen went";
  EXPECT_EQ(status(later), "pending");
}

}  // namespace
}  // namespace hive::task_manager::testing
