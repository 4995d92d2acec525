// hive::testing::MemoryStore: the whole hive.store/1 conformance suite (what
// holds for it holds for storage_sqlite and storage_postgres), a consumer
// plugin (jobs_plugin.hpp) unit-tested with it alone, then what only the
// in-memory store offers a test: a clock moved by hand, drain(), failNext(),
// and a store call from inside a unit refused instead of hanging.
#include "hive/testing/memory_store.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hive/services/store.hpp"
#include "hive/testing/harness.hpp"
#include "hive/testing/store_conformance.hpp"
#include "jobs_plugin.hpp"

namespace {

using namespace std::chrono_literals;
using hive::StatusCode;
using hive::testing::MemoryStore;

std::unique_ptr<hive::testing::StoreUnderTest> makeMemoryStore() {
  class Held final : public hive::testing::StoreUnderTest {
   public:
    hive::store::Store& store() override { return *store_; }
    hive::store::Erasure* erasure() override { return &erasure_; }

   private:
    std::shared_ptr<MemoryStore> store_ = std::make_shared<MemoryStore>();
    hive::testing::MemoryStoreErasure erasure_{store_};
  };
  return std::make_unique<Held>();
}

// A clock the test moves: the store reads it under its lock, so it is atomic.
class ManualClock {
 public:
  ManualClock() : now_(std::chrono::system_clock::now().time_since_epoch()) {}
  std::chrono::system_clock::time_point operator()() const {
    return std::chrono::system_clock::time_point(now_.load());
  }
  void advance(std::chrono::milliseconds by) { now_ = now_.load() + by; }

 private:
  std::atomic<std::chrono::system_clock::duration> now_;
};

hive::store::EnqueueRequest job(std::string payload) {
  hive::store::EnqueueRequest request;
  request.queue = "jobs";
  request.payload = std::move(payload);
  return request;
}

std::vector<std::string> doneBodies(MemoryStore& store) {
  hive::store::ListQuery query;
  query.collection = "jobs_done";
  auto page = store.list(query);
  EXPECT_TRUE(page.ok()) << page.status().toString();
  std::vector<std::string> bodies;
  if (page.ok())
    for (const auto& document : page->items) bodies.push_back(document.body);
  return bodies;
}

hive::store::ClaimRequest claimOf(std::string queue, std::chrono::milliseconds lease = 30s) {
  hive::store::ClaimRequest request;
  request.queue = std::move(queue);
  request.claimant = "test";
  request.lease = lease;
  return request;
}

// The example of docs/plugin-authors.md ("In-memory providers"), and a swap of
// the store that the plugin's follower survives.
TEST(MemoryStore, AConsumerPluginIsUnitTestedWithItAlone) {
  auto harness = hive::testing::PluginHarness::create<hive::jobs_test::JobsPlugin>("jobs");
  auto store = std::make_shared<MemoryStore>();
  harness->provideFake<hive::store::Store>(store);
  ASSERT_TRUE(harness->start().ok());
  ASSERT_TRUE(store->enqueue(job("build")).ok());
  ASSERT_TRUE(store->drain());  // the plugin's onClaimable callback ran: it posted its work
  harness->runPending();        // which claimed and completed the job
  EXPECT_THAT(doneBodies(*store), ::testing::ElementsAre("build"));
  EXPECT_TRUE(store->depth("jobs")->empty());

  auto next = std::make_shared<MemoryStore>();
  harness->provideFake<hive::store::Store>(next);  // a swap: the follower subscribes to `next`
  EXPECT_EQ(store->subscriptions(), 0u);
  EXPECT_EQ(next->subscriptions(), 1u);
  ASSERT_TRUE(next->enqueue(job("test")).ok());
  ASSERT_TRUE(next->drain());
  harness->runPending();
  EXPECT_THAT(doneBodies(*next), ::testing::ElementsAre("test"));
  EXPECT_THAT(harness->logLines(), ::testing::Not(::testing::Contains(::testing::HasSubstr("warn"))));
  harness->stop();
  EXPECT_EQ(next->subscriptions(), 0u);
}

TEST(MemoryStore, LeasesExpireAndTimedItemsWakeByTheInjectedClock) {
  auto clock = std::make_shared<ManualClock>();
  MemoryStore store(MemoryStore::Options{.clock = [clock] { return (*clock)(); }});
  std::atomic<int> wakeUps{0};
  auto subscription = store.onClaimable("jobs", [&] { ++wakeUps; });

  hive::store::EnqueueRequest later;
  later.queue = "jobs";
  later.payload = "in a minute";
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>((*clock)().time_since_epoch()).count();
  later.notBeforeMs = now + 60'000;
  ASSERT_TRUE(store.enqueue(later).ok());
  ASSERT_TRUE(store.drain());
  EXPECT_EQ(wakeUps.load(), 0) << "not claimable yet";
  EXPECT_TRUE(store.claim(claimOf("jobs"))->empty());

  clock->advance(60s);
  ASSERT_TRUE(store.drain());
  EXPECT_EQ(wakeUps.load(), 1) << "the clock reached notBefore";
  auto claimed = store.claim(claimOf("jobs", 10s));
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 1u);

  clock->advance(9s);
  EXPECT_TRUE(store.claim(claimOf("jobs"))->empty()) << "the lease holds";
  clock->advance(1s);
  ASSERT_TRUE(store.drain());
  EXPECT_EQ(wakeUps.load(), 2) << "the lease ran out";
  auto again = store.claim(claimOf("jobs"));
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].attempts, 2u);
  EXPECT_EQ(store.complete("jobs", (*claimed)[0].id, (*claimed)[0].leaseToken).code(),
            StatusCode::kFailedPrecondition);
}

TEST(MemoryStore, FailNextFailsThatManyCallsAndChangesNothing) {
  MemoryStore store;
  store.failNext(hive::unavailable("disk gone"), 2);
  EXPECT_EQ(store.enqueue(job("x")).status().code(), StatusCode::kUnavailable);
  bool ran = false;
  EXPECT_EQ(store
                .transact([&](hive::store::Transaction&) {
                  ran = true;
                  return hive::okStatus();
                })
                .code(),
            StatusCode::kUnavailable);
  EXPECT_FALSE(ran) << "a failed transact() does not run its work";
  EXPECT_TRUE(store.depth("jobs")->empty());
  EXPECT_TRUE(store.ping().ok());
}

TEST(MemoryStore, AStoreCallInsideAUnitIsRefusedNotAHang) {
  MemoryStore store;
  ASSERT_TRUE(store.declareCollection({"docs", {}}).ok());
  hive::Status inside;
  hive::Status unit = store.transact([&](hive::store::Transaction& tx) -> hive::Status {
    hive::store::Document document;
    document.id = "d";
    HIVE_TRY(tx.put("docs", document));
    inside = hive::testing::store_conformance::statusOf(store.get("docs", "d"));
    return inside;
  });
  EXPECT_EQ(inside.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(inside.message(), ::testing::HasSubstr("use the Transaction"));
  EXPECT_EQ(unit.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store.get("docs", "d").status().code(), StatusCode::kNotFound) << "the unit rolled back";
}

TEST(MemoryStore, AThrowingUnitRollsBackAndAThrowingCallbackIsRecorded) {
  MemoryStore store;
  EXPECT_THROW(store.transact([](hive::store::Transaction& tx) -> hive::Status {
    HIVE_TRY(tx.append("log", "t", "x"));
    throw std::runtime_error("work threw");
  }),
               std::runtime_error);
  EXPECT_TRUE(store.read("log", 0)->empty());
  EXPECT_TRUE(store.append("log", "t", "y").ok()) << "the store is still usable";

  std::atomic<int> others{0};
  auto bad = store.onClaimable("jobs", [] { throw std::runtime_error("boom"); });
  auto good = store.onClaimable("jobs", [&] { ++others; });
  EXPECT_EQ(store.subscriptions(), 2u);
  ASSERT_TRUE(store.enqueue(job("x")).ok());
  ASSERT_TRUE(store.drain());
  EXPECT_EQ(others.load(), 1);
  EXPECT_THAT(store.callbackErrors(), ::testing::ElementsAre("jobs: boom"));
}

}  // namespace

HIVE_STORE_CONFORMANCE_SUITE(MemoryStore, makeMemoryStore);
