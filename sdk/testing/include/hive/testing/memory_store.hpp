// hive::testing::MemoryStore — an in-memory hive.store/1 for unit tests of a
// plugin that keeps documents, queues work, logs events or counts, without
// storage_sqlite and without a hand-written fake. It passes the store
// conformance suite (hive/testing/store_conformance.hpp), so what works against
// it works against the real providers.
//
//   auto store = std::make_shared<hive::testing::MemoryStore>();
//   harness->provideFake<hive::store::Store>(store);
//   ASSERT_TRUE(harness->start().ok());          // the plugin declares, calls onClaimable("jobs")
//   hive::store::EnqueueRequest job;
//   job.queue = "jobs";
//   ASSERT_TRUE(store->enqueue(job).ok());
//   ASSERT_TRUE(store->drain());                 // its onClaimable callback ran (and posted work)
//   harness->runPending();                       // that work: claim, record, complete
//   EXPECT_TRUE(store->depth("jobs")->empty());  // nothing left waiting
//
// (sdk/testing/tests/memory_store_test.cpp has it in full, with a swap.)
//
// Differences from the real providers, all on purpose:
//  - Nothing survives the object, and nothing is shared with another process.
//  - Units of work run one at a time, under the store's one lock: transact()
//    never asks for a retry, and a unit's `work` must use only its Transaction.
//    A call to the store itself from inside `work` (on that thread) returns
//    kFailedPrecondition, where a real provider may deadlock or not see the
//    unit's writes.
//  - Time is Options::clock (the system clock by default): timestamps,
//    notBefore, retryAfter and lease expiry are all read from it when a call
//    runs. A lease expires by the clock alone; no thread sweeps.
//  - onClaimable callbacks run on one thread of the store, without its lock
//    held, as the real providers do (a callback may block, call the store, or
//    destroy its own subscription: hive::CallbackRegistry). Items that become
//    claimable later (a notBefore, a retryAfter, an expired lease) wake their
//    queue's subscribers when the clock reaches that time; drain() makes a
//    clock moved by hand take effect at once.
//  - Subscriptions are this store's alone: a swap played with provideFake() of
//    a new MemoryStore drops them, as with hive::testing::MemoryBus.
//  - No size limits on bodies, payloads or keys (the real providers' are
//    configuration).
//  - failNext() makes the next calls fail, to test a plugin's error paths.
// Thread-safe: one lock, held by each call and by each unit of work.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hive/services.hpp"
#include "hive/services/store.hpp"
#include "hive/services/store_erasure.hpp"
#include "hive/status.hpp"

namespace hive::testing {

class MemoryStore final : public store::Store {
 public:
  struct Options {
    // The store's time. Empty: std::chrono::system_clock::now. Called with the
    // store's lock held: it must not call the store.
    std::function<std::chrono::system_clock::time_point()> clock;
  };

  MemoryStore();
  explicit MemoryStore(Options options);
  // Stops the wake-up thread; wake-ups not yet delivered are dropped.
  ~MemoryStore() override;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  // ---- for the test ----
  // Waits until every wake-up due so far (by Options::clock, read now) has
  // been handed to the onClaimable subscribers and their callbacks returned;
  // false after `timeout`. Never call it (nor the other methods of this
  // section) from inside a callback or a unit's work: it would wait for itself.
  bool drain(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The next `calls` calls of the store's methods that return a Status or a
  // Result return `status` and change nothing. transact() counts as one call
  // and does not run its work; Transaction operations inside a unit are not
  // counted.
  void failNext(Status status, std::size_t calls = 1);
  // Live onClaimable subscriptions.
  std::size_t subscriptions() const;
  // What onClaimable callbacks threw, as "<queue>: <what>", oldest first (the
  // store catches it and wakes the other subscribers, as the real providers do).
  std::vector<std::string> callbackErrors() const;

  // ---- store::Store ----
  Status declareCollection(const store::CollectionSpec& spec) override;
  Result<store::Document> get(const std::string& collection, const std::string& id) override;
  Result<store::Document> put(const std::string& collection, store::Document document,
                              std::uint64_t expectedVersion = store::kAnyVersion) override;
  Status remove(const std::string& collection, const std::string& id,
                std::uint64_t expectedVersion = store::kAnyVersion) override;
  Result<store::Page> list(const store::ListQuery& query) override;
  Result<store::QueueItem> enqueue(store::EnqueueRequest request) override;
  Result<std::vector<store::QueueItem>> claim(const store::ClaimRequest& request) override;
  Result<store::QueueItem> extend(const std::string& queue, const std::string& itemId,
                                  const std::string& leaseToken, std::chrono::milliseconds lease) override;
  Status complete(const std::string& queue, const std::string& itemId,
                  const std::string& leaseToken) override;
  Status fail(const std::string& queue, const std::string& itemId, const std::string& leaseToken,
              std::chrono::milliseconds retryAfter, const std::string& error) override;
  Status cancel(const std::string& queue, const std::string& itemId) override;
  Result<std::vector<store::QueueItem>> releaseExpired(const std::string& queue) override;
  Result<store::QueueItem> peek(const std::string& queue, const std::string& itemId) override;
  Result<std::map<int, std::uint64_t>> depth(const std::string& queue) override;
  [[nodiscard]] std::unique_ptr<Subscription> onClaimable(const std::string& queue,
                                                          std::function<void()> callback) override;
  Result<std::uint64_t> append(const std::string& stream, const std::string& type,
                               const std::string& body) override;
  Result<std::vector<store::Event>> read(const std::string& stream, std::uint64_t afterId,
                                         std::size_t limit = 1000) override;
  Result<std::uint64_t> trim(const std::string& stream, std::int64_t beforeMs, std::size_t limit) override;
  Result<std::map<std::string, std::int64_t>> counters(const std::string& prefix) override;
  Status transact(const std::function<Status(store::Transaction&)>& work) override;
  Status ping() override;
  std::uint32_t schemaVersion() const override;

  // hive.store_erasure/1's call (SDK 2.11), as storage_sqlite and
  // storage_postgres answer it; MemoryStoreErasure provides it.
  Result<std::uint64_t> eraseEvents(const std::string& stream, const std::vector<std::uint64_t>& ids);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// hive.store_erasure/1 over a MemoryStore, for a plugin that erases events:
//   harness->provideFake<hive::store::Erasure>(std::make_shared<MemoryStoreErasure>(store), "store");
class MemoryStoreErasure final : public store::Erasure {
 public:
  explicit MemoryStoreErasure(std::shared_ptr<MemoryStore> store) : store_(std::move(store)) {}
  Result<std::uint64_t> eraseEvents(const std::string& stream,
                                    const std::vector<std::uint64_t>& ids) override {
    return store_->eraseEvents(stream, ids);
  }

 private:
  std::shared_ptr<MemoryStore> store_;
};

}  // namespace hive::testing
