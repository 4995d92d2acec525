// The real store (storage_sqlite, from its .so) as task_manager sees it in
// these tests: every call goes to it, but the times the store would measure on
// its own clock are measured on the test's clock instead:
//  - leases: a lease the test clock says has run out is released when the
//    sweep asks for expired leases (as the store would have, with the expired
//    token), without waiting for the store's clock;
//  - the event log: trim(beforeMs) deletes the events appended before that
//    time on the test clock (the store stamps events with its own);
//  - retry delays: recorded (retryDelays()) and passed to the store as 0, so
//    that the next attempt is claimable at once. Holding an item back for its
//    delay is the store's behaviour, checked by the store conformance suite.
// It also counts the live onClaimable subscriptions (a swap of the store
// provider must move them).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "clock.hpp"
#include "hive/services/store.hpp"
#include "hive/testing/harness.hpp"

namespace hive::task_manager::testing {

// The harness's manual clock (moved by advanceTime(), which also fires the
// sweep timer) as the plugin's Clock, from a fixed epoch time.
class HarnessClock final : public Clock {
 public:
  std::int64_t nowMs() const override { return start_ + (harness_ ? harness_->now().count() : 0); }
  void follow(const hive::testing::PluginHarness* harness) { harness_ = harness; }

 private:
  const std::int64_t start_ = plugin_common::nowMs();
  const hive::testing::PluginHarness* harness_ = nullptr;
};

class ClockedStore final : public store::Store {
 public:
  ClockedStore(std::shared_ptr<store::Store> real, const Clock& clock)
      : real_(std::move(real)), clock_(clock) {}

  std::vector<std::chrono::milliseconds> retryDelays() {
    std::lock_guard lock(mutex_);
    return retryDelays_;
  }
  int liveSubscriptions() const { return *subscriptions_; }
  // Units of work committed so far.
  int commits() const { return commits_; }
  // Task documents read inside units of work so far.
  int taskReads() const { return taskReads_; }

  // store::Store
  Status declareCollection(const store::CollectionSpec& spec) override {
    return real_->declareCollection(spec);
  }
  Result<store::Document> get(const std::string& c, const std::string& id) override {
    return real_->get(c, id);
  }
  Result<store::Document> put(const std::string& c, store::Document d, std::uint64_t v) override {
    return real_->put(c, std::move(d), v);
  }
  Status remove(const std::string& c, const std::string& id, std::uint64_t v) override {
    return real_->remove(c, id, v);
  }
  Result<store::Page> list(const store::ListQuery& query) override { return real_->list(query); }
  Result<store::QueueItem> enqueue(store::EnqueueRequest request) override {
    return real_->enqueue(std::move(request));
  }
  Result<std::vector<store::QueueItem>> claim(const store::ClaimRequest& request) override {
    auto items = real_->claim(request);
    if (items.ok()) claimed(request, *items);
    return items;
  }
  Result<store::QueueItem> extend(const std::string& q, const std::string& id, const std::string& token,
                                  std::chrono::milliseconds lease) override {
    auto item = real_->extend(q, id, token, lease);
    if (item.ok()) extended(q, id, lease);
    return item;
  }
  Status complete(const std::string& q, const std::string& id, const std::string& token) override {
    return ended(q, id, real_->complete(q, id, token));
  }
  Status fail(const std::string& q, const std::string& id, const std::string& token,
              std::chrono::milliseconds retryAfter, const std::string& error) override {
    delayed(retryAfter);
    return ended(q, id, real_->fail(q, id, token, std::chrono::milliseconds(0), error));
  }
  Status cancel(const std::string& q, const std::string& id) override {
    return ended(q, id, real_->cancel(q, id));
  }
  Result<std::vector<store::QueueItem>> releaseExpired(const std::string& queue) override;
  Result<store::QueueItem> peek(const std::string& q, const std::string& id) override {
    return real_->peek(q, id);
  }
  Result<std::map<int, std::uint64_t>> depth(const std::string& q) override { return real_->depth(q); }
  std::unique_ptr<Subscription> onClaimable(const std::string& queue,
                                            std::function<void()> callback) override;
  Result<std::uint64_t> append(const std::string& s, const std::string& type,
                               const std::string& body) override {
    auto id = real_->append(s, type, body);
    if (id.ok()) appended(s, *id, clock_.nowMs());
    return id;
  }
  Result<std::vector<store::Event>> read(const std::string& s, std::uint64_t after,
                                         std::size_t limit) override {
    return real_->read(s, after, limit);
  }
  Result<std::uint64_t> trim(const std::string& stream, std::int64_t beforeMs, std::size_t limit) override;
  Result<std::map<std::string, std::int64_t>> counters(const std::string& prefix) override {
    return real_->counters(prefix);
  }
  Status transact(const std::function<Status(store::Transaction&)>& work) override;
  Status ping() override { return real_->ping(); }
  std::uint32_t schemaVersion() const override { return real_->schemaVersion(); }

 private:
  class Tx;
  std::atomic<int> commits_{0};
  std::atomic<int> taskReads_{0};
  struct Lease {
    std::string token;
    std::int64_t deadlineMs = 0;  // on the test clock
  };
  static std::string key(const std::string& queue, const std::string& id) { return queue + '\n' + id; }

  void claimed(const store::ClaimRequest& request, const std::vector<store::QueueItem>& items);
  void extended(const std::string& queue, const std::string& id, std::chrono::milliseconds lease);
  Status ended(const std::string& queue, const std::string& id, Status status);
  void delayed(std::chrono::milliseconds retryAfter);
  void appended(const std::string& stream, std::uint64_t id, std::int64_t atMs);

  std::shared_ptr<store::Store> real_;
  const Clock& clock_;
  std::mutex mutex_;
  std::map<std::string, Lease> leases_;                                  // queue\nid → lease
  std::map<std::string, std::map<std::uint64_t, std::int64_t>> events_;  // stream → id → appended at
  std::vector<std::chrono::milliseconds> retryDelays_;
  std::shared_ptr<std::atomic<int>> subscriptions_ = std::make_shared<std::atomic<int>>(0);
};

}  // namespace hive::task_manager::testing
