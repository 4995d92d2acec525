#include "clocked_store.hpp"

#include <functional>

namespace hive::task_manager::testing {

// A unit of work: the same calls, their effects on the test clock's records
// kept for the commit (a rolled back unit changed nothing).
class ClockedStore::Tx final : public store::Transaction {
 public:
  Tx(ClockedStore& store, store::Transaction& real, std::vector<std::function<void()>>& effects)
      : store_(store), real_(real), effects_(effects) {}

  Result<store::Document> get(const std::string& c, const std::string& id) override {
    if (c == "tasks") ++store_.taskReads_;
    return real_.get(c, id);
  }
  Result<store::Document> put(const std::string& c, store::Document d, std::uint64_t v) override {
    return real_.put(c, std::move(d), v);
  }
  Status remove(const std::string& c, const std::string& id, std::uint64_t v) override {
    return real_.remove(c, id, v);
  }
  Result<store::QueueItem> enqueue(store::EnqueueRequest request) override {
    return real_.enqueue(std::move(request));
  }
  Status complete(const std::string& q, const std::string& id, const std::string& token) override {
    return ended(q, id, real_.complete(q, id, token));
  }
  Status fail(const std::string& q, const std::string& id, const std::string& token,
              std::chrono::milliseconds retryAfter, const std::string& error) override {
    Status status = real_.fail(q, id, token, std::chrono::milliseconds(0), error);
    if (status.ok()) effects_.push_back([store = &store_, retryAfter] { store->delayed(retryAfter); });
    return ended(q, id, status);
  }
  Status cancel(const std::string& q, const std::string& id) override {
    return ended(q, id, real_.cancel(q, id));
  }
  Result<std::uint64_t> append(const std::string& s, const std::string& type,
                               const std::string& body) override {
    auto id = real_.append(s, type, body);
    if (id.ok())
      effects_.push_back(
          [store = &store_, s, id = *id, at = store_.clock_.nowMs()] { store->appended(s, id, at); });
    return id;
  }
  Result<std::vector<store::QueueItem>> claim(const store::ClaimRequest& request) override {
    auto items = real_.claim(request);
    if (items.ok())
      effects_.push_back([store = &store_, request, items = *items] { store->claimed(request, items); });
    return items;
  }
  Result<store::QueueItem> extend(const std::string& q, const std::string& id, const std::string& token,
                                  std::chrono::milliseconds lease) override {
    auto item = real_.extend(q, id, token, lease);
    if (item.ok()) effects_.push_back([store = &store_, q, id, lease] { store->extended(q, id, lease); });
    return item;
  }
  Status addToCounter(const std::string& name, std::int64_t delta) override {
    return real_.addToCounter(name, delta);
  }

 private:
  Status ended(const std::string& q, const std::string& id, Status status) {
    if (status.ok()) effects_.push_back([store = &store_, q, id] { (void)store->ended(q, id, okStatus()); });
    return status;
  }

  ClockedStore& store_;
  store::Transaction& real_;
  std::vector<std::function<void()>>& effects_;
};

Status ClockedStore::transact(const std::function<Status(store::Transaction&)>& work) {
  std::vector<std::function<void()>> effects;
  Status done = real_->transact([&](store::Transaction& real) {
    effects.clear();
    Tx tx(*this, real, effects);
    return work(tx);
  });
  if (!done.ok()) return done;
  ++commits_;
  for (auto& effect : effects) effect();
  return done;
}

void ClockedStore::claimed(const store::ClaimRequest& request, const std::vector<store::QueueItem>& items) {
  std::lock_guard lock(mutex_);
  for (const auto& item : items)
    leases_[key(request.queue, item.id)] = {item.leaseToken, clock_.nowMs() + request.lease.count()};
}

void ClockedStore::extended(const std::string& queue, const std::string& id,
                            std::chrono::milliseconds lease) {
  std::lock_guard lock(mutex_);
  if (auto found = leases_.find(key(queue, id)); found != leases_.end())
    found->second.deadlineMs = clock_.nowMs() + lease.count();
}

Status ClockedStore::ended(const std::string& queue, const std::string& id, Status status) {
  if (!status.ok()) return status;
  std::lock_guard lock(mutex_);
  leases_.erase(key(queue, id));
  return status;
}

void ClockedStore::delayed(std::chrono::milliseconds retryAfter) {
  std::lock_guard lock(mutex_);
  retryDelays_.push_back(retryAfter);
}

void ClockedStore::appended(const std::string& stream, std::uint64_t id, std::int64_t atMs) {
  std::lock_guard lock(mutex_);
  events_[stream][id] = atMs;
}

Result<std::vector<store::QueueItem>> ClockedStore::releaseExpired(const std::string& queue) {
  std::vector<std::pair<std::string, std::string>> expired;  // id, token
  {
    std::lock_guard lock(mutex_);
    std::string prefix = key(queue, "");
    for (auto it = leases_.lower_bound(prefix); it != leases_.end() && it->first.rfind(prefix, 0) == 0;) {
      if (it->second.deadlineMs > clock_.nowMs()) {
        ++it;
        continue;
      }
      expired.emplace_back(it->first.substr(prefix.size()), it->second.token);
      it = leases_.erase(it);
    }
  }
  std::vector<store::QueueItem> released;
  for (const auto& [id, token] : expired) {
    auto item = HIVE_TRY(real_->peek(queue, id));
    if (item.leaseToken != token) continue;  // already released or claimed again
    // Released as an expiry would be: unleased, claimable now, attempts unchanged.
    HIVE_TRY(real_->fail(queue, id, token, std::chrono::milliseconds(0), "lease expired"));
    released.push_back(std::move(item));
  }
  auto real = HIVE_TRY(real_->releaseExpired(queue));
  released.insert(released.end(), real.begin(), real.end());
  return released;
}

Result<std::uint64_t> ClockedStore::trim(const std::string& stream, std::int64_t beforeMs,
                                         std::size_t limit) {
  std::size_t count = 0;
  {
    std::lock_guard lock(mutex_);
    auto& events = events_[stream];
    // The oldest events, in id order, appended before `beforeMs` on the test clock.
    for (auto it = events.begin(); it != events.end() && it->second < beforeMs && count < limit;) {
      it = events.erase(it);
      ++count;
    }
  }
  if (count == 0) return std::uint64_t{0};
  // Every one of them is older than now on the store's clock: `count` bounds the trim.
  return real_->trim(stream, plugin_common::nowMs() + 1, count);
}

std::unique_ptr<Subscription> ClockedStore::onClaimable(const std::string& queue,
                                                        std::function<void()> callback) {
  // Counts while it lives; destroying it drops the store's subscription first.
  class Counted final : public Subscription {
   public:
    Counted(std::unique_ptr<Subscription> inner, std::shared_ptr<std::atomic<int>> count)
        : inner_(std::move(inner)), count_(std::move(count)) {
      ++*count_;
    }
    ~Counted() override {
      inner_.reset();
      --*count_;
    }

   private:
    std::unique_ptr<Subscription> inner_;
    std::shared_ptr<std::atomic<int>> count_;
  };
  return std::make_unique<Counted>(real_->onClaimable(queue, std::move(callback)), subscriptions_);
}

}  // namespace hive::task_manager::testing
