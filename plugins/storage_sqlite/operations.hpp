// The hive.store/1 operations as SQL on one connection. Each call validates its
// input, then reads or writes inside whatever transaction the caller opened (the
// writer's group-commit batch, or a reader's implicit read transaction). Nothing
// here locks or waits: serialisation of writes is the Writer's job.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "connection.hpp"
#include "hive/services/store.hpp"
#include "hive/status.hpp"

namespace hive::storage_sqlite {

struct Limits {
  std::size_t maxDocumentBytes = 1 << 20;
  std::size_t maxPayloadBytes = 1 << 20;
};

// Limits of inputs the contract leaves open.
inline constexpr std::size_t kMaxIndexValueBytes = 1024;
inline constexpr std::size_t kMaxIndexFields = 32;
inline constexpr std::size_t kMaxKeyBytes = 256;     // idempotency keys, claimants
inline constexpr std::size_t kMaxTypeBytes = 128;    // event types
inline constexpr std::size_t kMaxErrorBytes = 4096;  // fail() errors are truncated to this
inline constexpr std::size_t kMaxReleased = 10000;   // releaseExpired() per call
inline constexpr std::chrono::hours kMaxLease{24};
inline constexpr std::size_t kMaxCounters = 10000;  // counters() per call

// What a committed write changes for onClaimable subscribers, and whether it
// freed pages the writer should give back to the file system.
struct WriteEffects {
  std::set<std::string> claimable;                  // queues with an item claimable now
  std::map<std::string, std::int64_t> claimableAt;  // queue -> earliest future time an item becomes so
  // Set by deletions that retention makes in bulk (trim, document removes),
  // not by the queue's own churn, whose pages the next enqueues reuse.
  bool freedPages = false;
  void clear() {
    claimable.clear();
    claimableAt.clear();
    freedPages = false;
  }
  void at(const std::string& queue, std::int64_t ms) {
    auto [it, inserted] = claimableAt.try_emplace(queue, ms);
    if (!inserted && ms < it->second) it->second = ms;
  }
  void merge(const WriteEffects& other) {
    claimable.insert(other.claimable.begin(), other.claimable.end());
    for (const auto& [queue, ms] : other.claimableAt) at(queue, ms);
    freedPages = freedPages || other.freedPages;
  }
};

class Operations {
 public:
  explicit Operations(Limits limits) : limits_(limits) {}

  // documents
  Status declareCollection(Connection& c, const store::CollectionSpec& spec);
  Result<store::Document> get(Connection& c, const std::string& collection, const std::string& id);
  Result<store::Document> put(Connection& c, const std::string& collection, store::Document document,
                              std::uint64_t expectedVersion, std::int64_t nowMs);
  Status remove(Connection& c, const std::string& collection, const std::string& id,
                std::uint64_t expectedVersion, WriteEffects& effects);
  Result<store::Page> list(Connection& c, const store::ListQuery& query);

  // queue
  Result<store::QueueItem> enqueue(Connection& c, store::EnqueueRequest request, std::int64_t nowMs,
                                   WriteEffects& effects);
  Result<std::vector<store::QueueItem>> claim(Connection& c, const store::ClaimRequest& request,
                                              std::int64_t nowMs, WriteEffects& effects);
  Result<store::QueueItem> extend(Connection& c, const std::string& queue, const std::string& itemId,
                                  const std::string& leaseToken, std::chrono::milliseconds lease,
                                  std::int64_t nowMs, WriteEffects& effects);
  Status complete(Connection& c, const std::string& queue, const std::string& itemId,
                  const std::string& leaseToken);
  Status fail(Connection& c, const std::string& queue, const std::string& itemId,
              const std::string& leaseToken, std::chrono::milliseconds retryAfter, const std::string& error,
              std::int64_t nowMs, WriteEffects& effects);
  Status cancel(Connection& c, const std::string& queue, const std::string& itemId);
  Result<std::vector<store::QueueItem>> releaseExpired(Connection& c, const std::string& queue,
                                                       std::int64_t nowMs, WriteEffects& effects);
  Result<store::QueueItem> peek(Connection& c, const std::string& queue, const std::string& itemId);
  Result<std::map<int, std::uint64_t>> depth(Connection& c, const std::string& queue, std::int64_t nowMs);
  // The earliest time after `nowMs` at which an item of `queue` becomes claimable
  // (notBefore or lease expiry); 0 when none.
  Result<std::int64_t> nextClaimableAt(Connection& c, const std::string& queue, std::int64_t nowMs);
  // Items in the queue, leased or not (for tests and tools).
  Result<std::uint64_t> count(Connection& c, const std::string& queue);

  // events
  Result<std::uint64_t> append(Connection& c, const std::string& stream, const std::string& type,
                               const std::string& body, std::int64_t nowMs);
  Result<std::vector<store::Event>> read(Connection& c, const std::string& stream, std::uint64_t afterId,
                                         std::size_t limit);
  Result<std::uint64_t> trim(Connection& c, const std::string& stream, std::int64_t beforeMs,
                             std::size_t limit, WriteEffects& effects);
  Result<std::uint64_t> eraseEvents(Connection& c, const std::string& stream,
                                    const std::vector<std::uint64_t>& ids);

  // counters
  Status addToCounter(Connection& c, const std::string& name, std::int64_t delta);
  Result<std::map<std::string, std::int64_t>> counters(Connection& c, const std::string& prefix);

 private:
  Result<std::set<std::string>> declaredFields(Connection& c, const std::string& collection);
  Result<store::QueueItem> findItem(Connection& c, const std::string& queue, const std::string& itemId);
  Result<store::QueueItem> leasedItem(Connection& c, const std::string& queue, const std::string& itemId,
                                      const std::string& leaseToken);

  Limits limits_;
};

// 128 random bits as 32 hex digits (lease tokens, generated item ids).
std::string randomHex128();

}  // namespace hive::storage_sqlite
