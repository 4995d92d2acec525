// The task series recorded from task events (task_metrics.hpp): directly on a
// manual clock, and through the real .so subscribed to a bus.
#include "task_metrics.hpp"

#include <atomic>
#include <string>

#include <gtest/gtest.h>

#include "hive/services/bus.hpp"
#include "hive/testing/harness.hpp"
#include "hive/testing/memory_bus.hpp"

namespace hive::monitoring_engine {
namespace {

using testing::PluginHarness;

class ManualClock final : public plugin_common::Clock {
 public:
  std::int64_t nowMs() const override { return now; }
  std::atomic<std::int64_t> now{1'000'000};
};

struct TaskState {
  std::string id = "t1";
  std::string status = "pending";
  std::string capabilities = R"(["linux"])";
  std::string waitingOn = "[]";
  std::int64_t attempts = 0;
  std::int64_t createdAt = 1'000'000;
  std::int64_t updatedAt = 1'000'000;
  std::int64_t queuedAt = 1'000'000;
  std::int64_t notBefore = 0;
  std::int64_t startedAt = 0;
};

// The shape of docs/events.md (the fields the recorder reads, and a few it does not).
std::string event(const std::string& name, const TaskState& t) {
  return R"({"event":")" + name + R"(","task":{"id":")" + t.id + R"(","type":"build","status":")" + t.status +
         R"(","capabilities":)" + t.capabilities + R"(,"waiting_on":)" + t.waitingOn + R"(,"attempts":)" +
         std::to_string(t.attempts) + R"(,"created_at_ms":)" + std::to_string(t.createdAt) +
         R"(,"updated_at_ms":)" + std::to_string(t.updatedAt) + R"(,"queued_at_ms":)" +
         std::to_string(t.queuedAt) + R"(,"not_before_ms":)" + std::to_string(t.notBefore) +
         R"(,"started_at_ms":)" + std::to_string(t.startedAt) + R"(,"result":{"ok":true},"progress":null}})";
}

class TaskMetricsTest : public ::testing::Test {
 protected:
  double counter(const std::string& name, const MetricLabels& labels = {}) {
    return harness_->metrics().counter(name, "", labels).value();
  }
  Histogram& histogram(const std::string& name, const MetricLabels& labels = {}) {
    return harness_->metrics().histogram(name, "", {}, labels);
  }
  double age(const std::string& capabilities) {
    return harness_->metrics()
        .gauge("hive_tasks_queue_age_seconds", "", {{"capabilities", capabilities}})
        .value();
  }

  // A loaded (not started) harness for its in-memory registry.
  std::unique_ptr<PluginHarness> harness_ =
      std::move(PluginHarness::loadLibrary(MONITORING_ENGINE_PLUGIN)).value();
  ManualClock clock_;
  std::shared_ptr<CapabilityLabels> labels_ = std::make_shared<CapabilityLabels>(2);
  TaskMetrics tasks_{harness_->metrics(), labels_, clock_, 100};
};

TEST_F(TaskMetricsTest, CountsSubmissionsAndFinalStatuses) {
  TaskState t;
  tasks_.record(event("task.created", t));
  t.status = "succeeded", t.attempts = 1;
  tasks_.record(event("task.succeeded", t));
  TaskState dead;  // a dependency had failed already: dead at submission, never created
  dead.id = "t2", dead.status = "dead";
  tasks_.record(event("task.dead", dead));
  TaskState gaveUp;  // dead after its last attempt: submitted earlier, not again
  gaveUp.id = "t3", gaveUp.status = "dead", gaveUp.attempts = 3, gaveUp.updatedAt += 5000;
  tasks_.record(event("task.dead", gaveUp));
  TaskState cancelled;
  cancelled.id = "t4", cancelled.status = "cancelled", cancelled.updatedAt += 10;
  tasks_.record(event("task.cancelled", cancelled));

  EXPECT_EQ(counter("hive_tasks_submitted_total"), 2);
  EXPECT_EQ(counter("hive_tasks_finished_total", {{"status", "succeeded"}}), 1);
  EXPECT_EQ(counter("hive_tasks_finished_total", {{"status", "dead"}}), 2);
  EXPECT_EQ(counter("hive_tasks_finished_total", {{"status", "cancelled"}}), 1);
  EXPECT_EQ(counter("hive_tasks_finished_total", {{"status", "failed"}}), 0);
}

TEST_F(TaskMetricsTest, MeasuresTheWaitFromClaimableToAssignedAndEachRun) {
  TaskState t;
  t.notBefore = t.queuedAt + 2000;  // claimable 2 s after its submission
  tasks_.record(event("task.created", t));
  t.status = "assigned", t.updatedAt = t.notBefore + 250;
  tasks_.record(event("task.assigned", t));
  EXPECT_EQ(histogram("hive_task_queue_wait_seconds").count(), 1u);
  EXPECT_DOUBLE_EQ(histogram("hive_task_queue_wait_seconds").sum(), 0.25);

  t.status = "running", t.startedAt = t.updatedAt = t.updatedAt + 50;
  tasks_.record(event("task.running", t));
  t.updatedAt += 1500;
  tasks_.record(event("task.progress", t));  // still the same run
  EXPECT_EQ(tasks_.running(), 1u);
  t.status = "pending", t.updatedAt += 500, t.queuedAt = t.updatedAt + 1000, t.notBefore = 0;
  tasks_.record(event("task.retrying", t));
  EXPECT_EQ(histogram("hive_task_run_seconds", {{"outcome", "retrying"}}).count(), 1u);
  EXPECT_DOUBLE_EQ(histogram("hive_task_run_seconds", {{"outcome", "retrying"}}).sum(), 2.0);

  // The second attempt is assigned but times out before it starts: no run, and
  // the first run's started_at (still on the task) is not taken for one.
  t.status = "assigned", t.updatedAt = t.queuedAt + 100;
  tasks_.record(event("task.assigned", t));
  t.status = "pending", t.updatedAt += 30000, t.queuedAt = t.updatedAt;
  tasks_.record(event("task.timed_out", t));
  EXPECT_EQ(histogram("hive_task_run_seconds", {{"outcome", "timed_out"}}).count(), 0u);
  EXPECT_EQ(histogram("hive_task_queue_wait_seconds").count(), 2u);
  EXPECT_EQ(tasks_.running(), 0u);
}

// An agent whose accept and result came in one burst: the task goes from
// assigned to its end without a `running` of its own. The attempt ran, from
// its assignment; one that is released before it starts did not.
TEST_F(TaskMetricsTest, AnAttemptWhoseStartCameWithItsEndRunsFromItsAssignment) {
  TaskState t;
  tasks_.record(event("task.created", t));
  t.status = "assigned", t.updatedAt = t.queuedAt + 100;
  tasks_.record(event("task.assigned", t));
  EXPECT_EQ(tasks_.running(), 0u);
  t.status = "succeeded", t.updatedAt += 40;
  tasks_.record(event("task.succeeded", t));
  EXPECT_EQ(histogram("hive_task_run_seconds", {{"outcome", "succeeded"}}).count(), 1u);
  EXPECT_DOUBLE_EQ(histogram("hive_task_run_seconds", {{"outcome", "succeeded"}}).sum(), 0.04);

  TaskState u;
  u.id = "t2";
  tasks_.record(event("task.created", u));
  u.status = "assigned", u.updatedAt = u.queuedAt + 100;
  tasks_.record(event("task.assigned", u));
  u.status = "pending", u.updatedAt += 50;
  tasks_.record(event("task.retrying", u));  // released: the agent left before it started
  EXPECT_EQ(histogram("hive_task_run_seconds", {{"outcome", "retrying"}}).count(), 0u);
  u.status = "assigned", u.updatedAt += 100;
  tasks_.record(event("task.assigned", u));
  u.status = "failed", u.updatedAt += 20;
  tasks_.record(event("task.failed", u));
  EXPECT_EQ(histogram("hive_task_run_seconds", {{"outcome", "failed"}}).count(), 1u);
  EXPECT_DOUBLE_EQ(histogram("hive_task_run_seconds", {{"outcome", "failed"}}).sum(), 0.02);
}

TEST_F(TaskMetricsTest, QueueAgeIsTheOldestClaimableTaskBySet) {
  TaskState a;  // waits since 1,000,000
  tasks_.record(event("task.created", a));
  TaskState b;  // same set, newer
  b.id = "t2", b.queuedAt = b.createdAt = b.updatedAt = 1'004'000;
  tasks_.record(event("task.created", b));
  TaskState blocked;  // waits on a dependency: not claimable, no age
  blocked.id = "t3", blocked.capabilities = R"(["gpu"])", blocked.waitingOn = R"(["t1"])",
  blocked.queuedAt = 0;
  tasks_.record(event("task.created", blocked));
  TaskState none;  // no capabilities
  none.id = "t4", none.capabilities = "[]", none.queuedAt = none.createdAt = none.updatedAt = 1'009'000;
  tasks_.record(event("task.created", none));

  clock_.now = 1'010'000;
  tasks_.sampleAges();
  EXPECT_DOUBLE_EQ(age("linux"), 10.0);
  EXPECT_DOUBLE_EQ(age("(none)"), 1.0);

  a.status = "assigned", a.updatedAt = 1'010'000;
  tasks_.record(event("task.assigned", a));
  b.status = "cancelled", b.updatedAt = 1'010'000;
  tasks_.record(event("task.cancelled", b));
  tasks_.sampleAges();
  EXPECT_DOUBLE_EQ(age("linux"), 0.0) << "a set with nothing waiting reads 0";
  EXPECT_EQ(tasks_.waiting(), 1u);
}

TEST_F(TaskMetricsTest, CapabilityLabelsAreBoundedAndTrackingIsBounded) {
  for (int n = 0; n < 5; ++n) {
    TaskState t;
    t.id = "t" + std::to_string(n);
    t.capabilities = R"(["set)" + std::to_string(n) + R"("])";
    tasks_.record(event("task.created", t));
  }
  clock_.now += 3000;
  tasks_.sampleAges();
  EXPECT_EQ(labels_->known(), (std::vector<std::string>{"set0", "set1", "(other)"}));
  EXPECT_DOUBLE_EQ(age("(other)"), 3.0);

  TaskMetrics small(harness_->metrics(), labels_, clock_, 2);
  for (int n = 0; n < 4; ++n) {
    TaskState t;
    t.id = "u" + std::to_string(n);
    small.record(event("task.created", t));
  }
  EXPECT_EQ(small.waiting(), 2u);
  EXPECT_EQ(counter("hive_tasks_untracked_total"), 2);
}

TEST_F(TaskMetricsTest, IgnoresWhatIsNotATaskEvent) {
  tasks_.record("not json");
  tasks_.record(R"({"event":"alert.firing","alert":{}})");
  tasks_.record(R"({"event":"task.created","task":{"status":"pending"}})");  // no id
  EXPECT_EQ(counter("hive_task_events_unreadable_total"), 3);
  EXPECT_EQ(counter("hive_tasks_submitted_total"), 0);
  EXPECT_EQ(tasks_.waiting(), 0u);
}

TEST(MonitoringEngineTasks, TheRealPluginRecordsTaskEventsFromTheBus) {
  auto loaded = PluginHarness::loadLibrary(MONITORING_ENGINE_PLUGIN);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  auto harness = std::move(loaded).value();
  auto bus = std::make_shared<testing::MemoryBus>();
  harness->provideFake<bus::Bus>(bus, "communication_engine");
  harness->setConfig(testing::configFromPairs({{"health_period", "1s"}}));
  ASSERT_TRUE(harness->start().ok());

  TaskState t;
  t.queuedAt = t.createdAt = t.updatedAt = plugin_common::nowMs() - 60'000;  // waits for a minute already
  ASSERT_TRUE(bus->publish("tasks", event("task.created", t)).ok());
  ASSERT_TRUE(
      bus->publish("tasks.t1", event("task.created", t)).ok());  // the same change, by id: not counted
  ASSERT_TRUE(bus->drain());
  harness->advanceTime(std::chrono::seconds(1));
  EXPECT_EQ(harness->metrics().counter("hive_tasks_submitted_total", "").value(), 1);
  EXPECT_GE(harness->metrics().gauge("hive_tasks_queue_age_seconds", "", {{"capabilities", "linux"}}).value(),
            60.0);

  harness->stop();
  ASSERT_TRUE(bus->publish("tasks", event("task.created", t)).ok());
  ASSERT_TRUE(bus->drain());
  EXPECT_EQ(harness->metrics().counter("hive_tasks_submitted_total", "").value(), 1)
      << "unsubscribed in stop()";
}

}  // namespace
}  // namespace hive::monitoring_engine
