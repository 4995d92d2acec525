#include "fixture.hpp"
#include "hive/testing/memory_store.hpp"
#include "records.hpp"

namespace hive::task_manager::testing {
namespace {

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

// The count of edges whose dependency has not ended (records.hpp,
// kPendingEdges): while it is 0 the end of a task looks for no dependents.
TEST_F(TaskManagerTest, EdgesWaitingForADependencyAreCountedUntilItEnds) {
  auto pending = [&] {
    auto counters = realStore_->counters("tasks.pending_edges");
    EXPECT_TRUE(counters.ok());
    auto found = counters->find("tasks.pending_edges");
    return found == counters->end() ? std::int64_t{0} : found->second;
  };
  std::string a = submit(R"({"type":"a"})");
  EXPECT_EQ(pending(), 0);
  std::string b = submit(R"({"type":"b","depends_on":[")" + a + R"("]})");
  std::string c = submit(R"({"type":"c","depends_on":[")" + a + R"(",")" + b + R"("]})");
  EXPECT_EQ(pending(), 3) << "b on a; c on a and b";
  auto first = claim("agent-1");
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(tasks_->succeeded(a, first[0].leaseToken, "{}").ok());
  EXPECT_EQ(pending(), 1) << "a's two edges found at its end";
  EXPECT_EQ(status(b), "pending");
  EXPECT_EQ(task(b).at("waiting_on").as_array().size(), 0u) << "released at a's end, not by a sweep";
  // On a task that already succeeded: not waited for, not counted.
  std::string d = submit(R"({"type":"d","depends_on":[")" + a + R"("]})");
  EXPECT_EQ(pending(), 1);
  auto second = claim("agent-1");
  ASSERT_EQ(second.size(), 2u) << "b and d";
  for (const auto& assignment : second)
    ASSERT_TRUE(tasks_->succeeded(assignment.taskId, assignment.leaseToken, "{}").ok());
  EXPECT_EQ(pending(), 0);
  EXPECT_EQ(claim("agent-1").size(), 1u) << "c runs once both ended";
}

}  // namespace
}  // namespace hive::task_manager::testing

namespace hive::task_manager::testing {
namespace {

// A store written before the counters: its tasks are counted once, when
// task_manager declares its records, and not again.
TEST(Records, AStoreWrittenBeforeTheCountersIsCountedOnce) {
  hive::testing::MemoryStore store;
  ASSERT_TRUE(store
                  .declareCollection(
                      {kTasks, {"status", "type", "agent", "capabilities", "waiting", "tenant", "project"}})
                  .ok());
  ASSERT_TRUE(store.declareCollection({kDependencies, {"dep"}}).ok());
  auto put = [&](Task t) {
    t.type = "x";
    t.queue = queueFor(t.capabilities);
    ASSERT_TRUE(store.put(kTasks, toDocument(t), store::kAnyVersion).ok());
  };
  Task a;
  a.id = "a";
  a.status = TaskStatus::kRunning;
  a.capabilities = {"gpu"};
  put(a);
  Task b;
  b.id = "b";
  b.status = TaskStatus::kPending;
  b.dependsOn = b.waitingOn = {"a"};
  put(b);
  Task c;
  c.id = "c";
  c.status = TaskStatus::kSucceeded;
  put(c);
  store::Document edge;
  edge.id = "a:b";
  edge.body = "b";  // as written before edges were counted
  edge.index = {{"dep", "a"}};
  ASSERT_TRUE(store.put(kDependencies, edge, store::kAnyVersion).ok());

  for (int start = 0; start < 2; ++start) {
    ASSERT_TRUE(declareRecords(store).ok());
    auto counters = store.counters("tasks.");
    ASSERT_TRUE(counters.ok());
    EXPECT_EQ(counters->at("tasks.status.running"), 1) << "start " << start;
    EXPECT_EQ(counters->at("tasks.status.pending"), 1);
    EXPECT_EQ(counters->at("tasks.status.succeeded"), 1);
    EXPECT_EQ(counters->at("tasks.busy.gpu"), 1);
    EXPECT_EQ(counters->count("tasks.busy.any"), 0u) << "nothing of it is assigned or running";
    EXPECT_EQ(counters->at("tasks.pending_edges"), 1);
    auto stored = store.get(kDependencies, "a:b");
    ASSERT_TRUE(stored.ok());
    EXPECT_EQ(stored->body, "b pending") << "the edge is a counted one now";
  }
}

}  // namespace
}  // namespace hive::task_manager::testing
