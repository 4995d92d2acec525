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

}  // namespace
}  // namespace hive::task_manager::testing
