#include <atomic>
#include <thread>

#include "concurrency.hpp"
#include "fixture.hpp"
#include "hive/services/store_names.hpp"
#include "hive/services/tenancy.hpp"
#include "plugin_common/test_tenancy.hpp"
#include "task_model.hpp"

namespace hive::task_manager::testing {
namespace {

using std::chrono::milliseconds;

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

using plugin_common::TenantsByName;

TEST_F(TaskManagerTest, ATenantsTasksAreClaimedOnlyByAgentsOfThatTenantAndItsAgentsTakeNoOtherTask) {
  harness_->provideFake<tenancy::Tenancy>(std::make_shared<TenantsByName>());
  principal_ = "acme";
  std::string acme = submit(R"({"type":"x","capabilities":["gpu"]})");
  principal_ = "globex";
  std::string globex = submit(R"({"type":"x","capabilities":["gpu"]})");
  principal_ = "";
  std::string plain = submit(R"({"type":"x","capabilities":["gpu"]})");
  principal_ = "admin";
  EXPECT_EQ(task(acme).at("capabilities").as_array().size(), 1u) << "the tenant's capability is not shown";

  EXPECT_TRUE(claim("initech-agent", {"gpu", "tenant:initech"}).empty()) << "a third tenant's agent";
  auto forAcme = claim("acme-agent", {"cuda", "gpu", "tenant:acme"});
  ASSERT_EQ(forAcme.size(), 1u) << "acme's agent takes acme's task, not the default tenant's";
  EXPECT_EQ(forAcme[0].taskId, acme);
  auto forDefault = claim("default-agent", {"gpu", "zeta"});
  ASSERT_EQ(forDefault.size(), 1u) << "a default-tenant agent takes the default tenant's task only";
  EXPECT_EQ(forDefault[0].taskId, plain);
  auto forGlobex = claim("globex-agent", {"gpu", "tenant:globex"});
  ASSERT_EQ(forGlobex.size(), 1u);
  EXPECT_EQ(forGlobex[0].taskId, globex);
}

TEST(TenantQueues, ATenantsQueueIsNamedByAHashOfItsSetAndOnlyItsTenantServesIt) {
  std::vector<std::string> acme = {"gpu", "tenant:Acme.Corp"};
  std::string queue = queueFor(acme);
  EXPECT_EQ(queue.rfind("tasks.t", 0), 0u) << queue;
  EXPECT_EQ(queue.size(), 39u) << "tasks.t and 128 bits in hex";
  EXPECT_TRUE(store::checkName(queue, "queue").ok()) << queue;
  EXPECT_NE(queue, queueFor({"gpu", "tenant:acme.corp"}));
  EXPECT_EQ(queueFor({"gpu"}), "tasks.gpu") << "the default tenant's queues are named as before";
  // A set too long to spell out is named by a hash; stores hold these names: they must not change.
  EXPECT_EQ(queueFor({std::string(40, 'x'), std::string(40, 'y')}), "tasks.h95b274a7f50a3f75");
  EXPECT_EQ(busyCounter("tasks." + std::string(57, 'q')), "tasks.busy.hc4e918609cb2c63a");
  EXPECT_EQ(busyCounter("tasks.gpu"), "tasks.busy.gpu");

  Task task;
  task.capabilities = {"x", "a"};
  task.tenant = "m";
  EXPECT_EQ(queueCapabilities(task), (std::vector<std::string>{"a", "tenant:m", "x"}));
  task.tenant.clear();
  EXPECT_EQ(queueCapabilities(task), task.capabilities);

  EXPECT_TRUE(serves({"gpu", "tenant:a"}, {"gpu", "tenant:a"}));
  EXPECT_TRUE(serves({"gpu", "tenant:a"}, {"tenant:a"}));
  EXPECT_FALSE(serves({"gpu", "tenant:a"}, {"gpu"})) << "a tenant's agent takes no default-tenant task";
  EXPECT_FALSE(serves({"gpu"}, {"gpu", "tenant:a"})) << "nor the reverse";
  EXPECT_FALSE(serves({"gpu", "tenant:b"}, {"gpu", "tenant:a"}));
  EXPECT_TRUE(serves({"gpu"}, {"gpu"}));
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

// A task on its way through (claimed, started, succeeded) is not read back
// from the store: the node starts each change from the document it committed
// last. When another writer (another node) changed the task since, the change
// fails its compare-and-swap and runs again from what is stored.
TEST_F(TaskManagerTest, ALeaseChangeStartsFromTheNodesLastWriteAndFromTheStoreWhenAnotherWriterCameBetween) {
  std::string id = submit(R"({"type":"a","title":"mine"})");
  int reads = store_->taskReads();
  auto assigned = claim("agent-1");
  ASSERT_EQ(assigned.size(), 1u);
  ASSERT_TRUE(tasks_->started(id, assigned[0].leaseToken).ok());
  ASSERT_TRUE(tasks_->succeeded(id, assigned[0].leaseToken, R"({"answer":42})").ok());
  EXPECT_EQ(store_->taskReads(), reads);
  EXPECT_EQ(status(id), "succeeded");

  // Another writer renames the next task after this node created it.
  std::string other = submit(R"({"type":"a","title":"mine"})");
  auto stored = realStore_->get("tasks", other);
  ASSERT_TRUE(stored.ok());
  auto body = json::parse(stored->body).as_object();
  body["title"] = "theirs";
  stored->body = json::serialize(body);
  ASSERT_TRUE(realStore_->put("tasks", *stored, stored->version).ok());
  reads = store_->taskReads();
  auto again = claim("agent-1");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].title, "theirs");
  EXPECT_EQ(store_->taskReads(), reads + 1);
  // The result too: another writer came between the claim and the result.
  stored = realStore_->get("tasks", other);
  ASSERT_TRUE(stored.ok());
  ASSERT_TRUE(realStore_->put("tasks", *stored, stored->version).ok());
  ASSERT_TRUE(tasks_->succeeded(other, again[0].leaseToken, R"({"answer":43})").ok());
  auto done = task(other);
  EXPECT_EQ(done.at("status").as_string(), "succeeded");
  EXPECT_EQ(done.at("title").as_string(), "theirs");
  EXPECT_EQ(done.at("attempts").as_int64(), 1);
}

TEST_F(TaskManagerTest, RetriesWithBackoffThenDead) {
  std::string id = submit(R"({"type":"a","max_attempts":3})");
  auto first = claim("agent-1");
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(tasks_->failed(id, first[0].leaseToken, "boom", tasks::Retry::kAllowed).ok());
  EXPECT_EQ(status(id), "pending");
  auto second = claim("agent-1");
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].attempt, 2u);
  ASSERT_TRUE(tasks_->failed(id, second[0].leaseToken, "boom", tasks::Retry::kAllowed).ok());
  // The store was asked to hold the task back before each retry: retry_base
  // (10 ms) doubled per attempt up to retry_max (20 ms), jittered over its upper half.
  auto delays = store_->retryDelays();
  ASSERT_EQ(delays.size(), 2u);
  EXPECT_GE(delays[0], milliseconds(5));
  EXPECT_LE(delays[0], milliseconds(10));
  EXPECT_GE(delays[1], milliseconds(10));
  EXPECT_LE(delays[1], milliseconds(20));
  auto third = claim("agent-1");
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].attempt, 3u);
  ASSERT_TRUE(tasks_->failed(id, third[0].leaseToken, "boom again", tasks::Retry::kAllowed).ok());
  auto dead = task(id);
  EXPECT_EQ(dead.at("status").as_string(), "dead");
  EXPECT_THAT(std::string(dead.at("error").as_string()), ::testing::HasSubstr("boom again"));
  EXPECT_EQ(store_->retryDelays().size(), 2u) << "no retry after the last attempt";
  EXPECT_TRUE(claim("agent-1").empty());
  // A failure that is not worth retrying ends at once.
  std::string other = submit(R"({"type":"a","max_attempts":5})");
  auto claimed = claim("agent-1");
  ASSERT_EQ(claimed.size(), 1u);
  ASSERT_TRUE(tasks_->failed(other, claimed[0].leaseToken, "bad input", tasks::Retry::kNever).ok());
  EXPECT_EQ(status(other), "failed");
}

TEST_F(TaskManagerTest, AnExpiredLeaseGoesToAnotherAgentAndTheLateResultIsStale) {
  std::string id = submit(R"({"type":"a","timeout_seconds":1,"max_attempts":3})");
  auto slow = claim("slow-agent");
  ASSERT_EQ(slow.size(), 1u);
  advance(milliseconds(900));
  EXPECT_EQ(status(id), "assigned") << "within its timeout";
  sweep();  // 1.9 s: the 1 s lease ran out at 1 s
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

// An assignment that never reached its agent (Hive killed right after the
// claim) is back in the queue after the claim lease (30 s), not the task's
// whole timeout; an accepted one keeps its lease for the timeout, from the accept.
TEST_F(TaskManagerTest, AnUnacceptedAssignmentGoesBackAfterTheClaimLeaseAnAcceptedOneKeepsItsTimeout) {
  std::string lost = submit(R"({"type":"a","timeout_seconds":300,"max_attempts":3})");
  std::string kept = submit(R"({"type":"a","timeout_seconds":300,"max_attempts":3})");
  auto claimed = claim("agent-1");
  ASSERT_EQ(claimed.size(), 2u);
  const auto& keptLease = claimed[0].taskId == kept ? claimed[0] : claimed[1];
  advance(milliseconds(10000));
  ASSERT_TRUE(tasks_->started(kept, keptLease.leaseToken).ok());
  advance(milliseconds(25000));  // 35 s after the claim, 25 s after the accept
  auto back = task(lost);
  EXPECT_EQ(back.at("status").as_string(), "pending");
  EXPECT_THAT(std::string(back.at("error").as_string()),
              ::testing::HasSubstr("timed out before the agent accepted it (attempt 1 of 3, agent agent-1)"));
  EXPECT_EQ(status(kept), "running");
  advance(milliseconds(280000));  // 305 s after the accept: its timeout
  auto timedOut = task(kept);
  EXPECT_EQ(timedOut.at("status").as_string(), "pending");
  EXPECT_THAT(std::string(timedOut.at("error").as_string()), ::testing::HasSubstr("timed out after 300s"));
}

TEST_F(TaskManagerTest, TimeoutsExhaustAttemptsToDead) {
  std::string id = submit(R"({"type":"a","timeout_seconds":1,"max_attempts":1})");
  ASSERT_EQ(claim("agent-1").size(), 1u);
  sweep();
  EXPECT_EQ(status(id), "dead");
  EXPECT_TRUE(claim("agent-2").empty());
}

TEST_F(TaskManagerTest, WorkWakeUpFiresOnSubmission) {
  std::atomic<int> wakeUps{0};
  auto subscription = tasks_->onWork([&] { ++wakeUps; });
  submit(R"({"type":"a"})");
  // Told by the drain once the group is committed, before the answer (the
  // store's own wake-up may add more, from its thread).
  EXPECT_GE(wakeUps.load(), 1);
  subscription.reset();
  int seen = wakeUps;
  submit(R"({"type":"a"})");
  EXPECT_EQ(wakeUps.load(), seen) << "never after unsubscribing";
}

// The store's wake-ups are the store provider's objects: when it is swapped
// they are dropped and taken from the new one, which then wakes the
// orchestrator; when it goes, they go.
TEST_F(TaskManagerTest, StoreWakeUpsFollowASwapOfTheStoreProvider) {
  submit(R"({"type":"a"})");
  submit(R"({"type":"a","capabilities":["python"]})");
  EXPECT_EQ(store_->liveSubscriptions(), 2) << "one per queue";
  auto swapped = std::make_shared<ClockedStore>(realStore_, clock_);
  harness_->provideFake<store::Store>(swapped, "storage_sqlite");
  EXPECT_EQ(store_->liveSubscriptions(), 0) << "the old provider's wake-ups are dropped";
  EXPECT_EQ(swapped->liveSubscriptions(), 2);
  std::atomic<int> wakeUps{0};
  auto subscription = tasks_->onWork([&] { ++wakeUps; });
  // Work that another node queued: only the store can tell.
  ASSERT_TRUE(realStore_->enqueue({queueFor({"python"}), "{}", 5, 0, {}, "elsewhere"}).ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (wakeUps == 0 && std::chrono::steady_clock::now() < deadline)  // the store's notifier thread
    std::this_thread::sleep_for(milliseconds(1));
  EXPECT_GT(wakeUps.load(), 0);
  ASSERT_TRUE(harness_->withdrawFake<store::Store>("storage_sqlite"));
  EXPECT_EQ(swapped->liveSubscriptions(), 0);
}

class AgingTest : public TaskManagerTest {
 protected:
  ConfigNode config() override { return hive::testing::configFromPairs({{"aging", "1s"}}); }
};

// A task that waits gains one priority level per aging period, so that a
// stream of higher priorities cannot starve it.
TEST_F(AgingTest, AWaitingTaskGainsAPriorityLevelPerPeriod) {
  std::string id = submit(R"({"type":"a","priority":1})");
  advance(milliseconds(900));
  EXPECT_EQ(task(id).at("effective_priority").as_int64(), 1);
  sweep();
  EXPECT_EQ(task(id).at("effective_priority").as_int64(), 2);
  sweep();
  EXPECT_EQ(task(id).at("effective_priority").as_int64(), 3);
  submit(R"({"type":"a","priority":2})");
  auto claimed = claim("agent-1", {}, 1);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].taskId, id) << "the aged task goes first";
}

// A backlog ages a page of tasks per commit: 40 waiting tasks were 40
// transactions (and on PostgreSQL 40 turns at the event log's lock) each level.
TEST_F(AgingTest, ABacklogAgesInAFewCommits) {
  constexpr int kTasks = 40;  // more than one page of the scan
  std::vector<std::string> ids;
  for (int i = 0; i < kTasks; ++i) ids.push_back(submit(R"({"type":"a","priority":1})"));
  advance(milliseconds(900));
  const int before = store_->commits();
  sweep();
  EXPECT_LE(store_->commits() - before, 2) << "one commit per page of due tasks";
  for (const auto& id : ids) EXPECT_EQ(task(id).at("effective_priority").as_int64(), 2) << id;
  std::size_t aged = 0;
  for (const auto& event : eventLog()) aged += event.type == "task.aged" ? 1 : 0;
  EXPECT_EQ(aged, ids.size()) << "each task still gets its task.aged event";
}

}  // namespace
}  // namespace hive::task_manager::testing

namespace hive::task_manager::testing {
namespace {

class ConcurrencyTest : public TaskManagerTest {
 protected:
  ConfigNode config() override {
    auto section = hive::testing::configFromPairs({{"retry_base", "10ms"}, {"retry_max", "20ms"}});
    auto concurrency = hive::testing::configFromPairs({{"per_tenant", "3"}});
    concurrency.set("capabilities", hive::testing::configFromPairs({{"gpu", "2"}}));
    concurrency.set("tenants", hive::testing::configFromPairs({{"acme", "1"}}));
    section.set("concurrency", std::move(concurrency));
    return section;
  }
};

TEST_F(ConcurrencyTest, AClaimTakesNoMoreThanTheCapabilitysLimitLeavesAcrossAgentsAndQueues) {
  for (int i = 0; i < 3; ++i) submit(R"({"type":"a","capabilities":["gpu"]})");
  for (int i = 0; i < 2; ++i) submit(R"({"type":"a","capabilities":["gpu","cuda"]})");
  auto first = claim("agent-1", {"gpu"}, 10);
  EXPECT_EQ(first.size(), 2u) << "gpu: 2, whatever the agent has room for";
  EXPECT_TRUE(claim("agent-2", {"gpu", "cuda"}, 10).empty())
      << "another agent, another queue: the same limit";
  EXPECT_EQ(countOf(stats(), "pending"), 3);

  // Started, the tasks still count; ended, each frees one place.
  ASSERT_TRUE(tasks_->started(first[0].taskId, first[0].leaseToken).ok());
  EXPECT_TRUE(claim("agent-2", {"gpu", "cuda"}, 10).empty());
  ASSERT_TRUE(tasks_->succeeded(first[0].taskId, first[0].leaseToken, "{}").ok());
  EXPECT_EQ(claim("agent-2", {"gpu", "cuda"}, 10).size(), 1u);
  ASSERT_TRUE(tasks_->failed(first[1].taskId, first[1].leaseToken, "boom", tasks::Retry::kNever).ok());
  EXPECT_EQ(claim("agent-3", {"gpu", "cuda"}, 10).size(), 1u);
  EXPECT_TRUE(claim("agent-3", {"gpu", "cuda"}, 10).empty());

  // Tasks without the capability are not held back by it.
  submit(R"({"type":"a","capabilities":["cpu"]})");
  EXPECT_EQ(claim("agent-4", {"cpu", "gpu"}, 10).size(), 1u);
}

TEST_F(ConcurrencyTest, ATenantsLimitCountsItsTasksAndTheOthersHaveTheirOwn) {
  harness_->provideFake<tenancy::Tenancy>(std::make_shared<TenantsByName>());
  principal_ = "acme";
  for (int i = 0; i < 3; ++i) submit(R"({"type":"x"})");
  principal_ = "globex";
  for (int i = 0; i < 5; ++i) submit(R"({"type":"x"})");
  principal_ = "admin";

  auto acme = claim("acme-agent", {"tenant:acme"}, 10);
  ASSERT_EQ(acme.size(), 1u) << "tenants.acme: 1";
  EXPECT_EQ(claim("globex-agent", {"tenant:globex"}, 10).size(), 3u) << "per_tenant: 3";
  EXPECT_TRUE(claim("acme-agent", {"tenant:acme"}, 10).empty());
  // A lease that runs out frees the place too (the task goes back to wait).
  advance(std::chrono::seconds(31));
  EXPECT_EQ(claim("acme-agent", {"tenant:acme"}, 10).size(), 1u);
}

TEST(Headroom, CountsEachQueueUnderEveryLimitItFallsUnderAndHoldsLimitedQueuesWhenCountsAreUnknown) {
  ConcurrencyLimits limits;
  limits.capabilities = {{"gpu", 3}};
  limits.perTenant = 5;
  std::map<std::string, std::vector<std::string>> queues = {
      {"tasks.gpu", {"gpu"}}, {"tasks.cuda.gpu", {"cuda", "gpu"}}, {"tasks.t1", {"cpu", "tenant:acme"}}};
  std::map<std::string, std::int64_t> counters = {
      {busyCounter("tasks.gpu"), 1}, {busyCounter("tasks.cuda.gpu"), 1}, {busyCounter("tasks.t1"), 4}};
  Headroom room(limits, queues, counters);
  EXPECT_EQ(room.room({"gpu"}), 1u) << "gpu: 3, two held in two queues";
  EXPECT_EQ(room.room({"cpu", "tenant:acme"}), 1u) << "per_tenant: 5, four held";
  room.took({"gpu"}, 1);
  EXPECT_EQ(room.room({"cuda", "gpu"}), 0u);

  ConcurrencyLimits gpuOnly;
  gpuOnly.capabilities = {{"gpu", 3}};
  Headroom unknown(gpuOnly, queues, std::nullopt);
  EXPECT_EQ(unknown.room({"gpu"}), 0u) << "under a limit, counts unknown: nothing taken";
  EXPECT_GT(unknown.room({"cpu"}), 0u) << "under no limit: as without limits";
  EXPECT_LE(busyCounter("tasks." + std::string(57, 'x')).size(), 63u);
}

TEST_F(ConcurrencyTest, CancellingARunningTaskFreesItsPlace) {
  submit(R"({"type":"a","capabilities":["gpu"]})");
  submit(R"({"type":"a","capabilities":["gpu"]})");
  submit(R"({"type":"a","capabilities":["gpu"]})");
  auto taken = claim("agent-1", {"gpu"}, 10);
  ASSERT_EQ(taken.size(), 2u);
  ASSERT_TRUE(tasks_->started(taken[0].taskId, taken[0].leaseToken).ok());
  EXPECT_EQ(call("POST", "/api/v2/tasks/" + taken[0].taskId + "/cancel").status, 200);
  EXPECT_EQ(claim("agent-1", {"gpu"}, 10).size(), 1u);
}

}  // namespace
}  // namespace hive::task_manager::testing
