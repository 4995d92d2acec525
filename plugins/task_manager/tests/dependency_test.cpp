#include "fixture.hpp"

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
