// Each store operation as SQL inside a transaction the caller owns: the same
// code serves single calls (inside a group-commit batch) and units of work.
// Methods throw what libpqxx throws; callers convert at their edge. Input is
// validated before any SQL runs.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/transaction_base>

#include "hive/services/store.hpp"
#include "hive/status.hpp"
#include "validation.hpp"

namespace hive::storage_postgres {

// Wake-ups a unit of work publishes once it has committed: (queue, notBeforeMs).
using Wakeups = std::set<std::pair<std::string, std::int64_t>>;

// Declared index fields per collection. Another node may declare more fields, so
// a field missing here is looked up again before it is refused.
class CollectionCache {
 public:
  // The fields of `collection`, read from the database when `refresh` or unknown.
  std::set<std::string> fields(pqxx::transaction_base& tx, const std::string& collection, bool refresh);
  void remember(const std::string& collection, std::set<std::string> fields);

 private:
  std::mutex mutex_;
  std::map<std::string, std::set<std::string>> fields_;
};

class Operations {
 public:
  explicit Operations(Limits limits) : limits_(limits) {}

  // documents
  Status declareCollection(pqxx::transaction_base& tx, const store::CollectionSpec& spec);
  Result<store::Document> get(pqxx::transaction_base& tx, const std::string& collection,
                              const std::string& id);
  Result<store::Document> put(pqxx::transaction_base& tx, const std::string& collection,
                              store::Document document, std::uint64_t expectedVersion);
  Status remove(pqxx::transaction_base& tx, const std::string& collection, const std::string& id,
                std::uint64_t expectedVersion);
  Result<store::Page> list(pqxx::transaction_base& tx, const store::ListQuery& query);

  // queue
  Result<store::QueueItem> enqueue(pqxx::transaction_base& tx, const store::EnqueueRequest& request,
                                   Wakeups& wakeups);
  // Inserts every request in one statement. Returns, per request, the stored item,
  // or nullopt when its row conflicted (run enqueue() for it). Requests must be
  // valid (checkEnqueue); empty ids are generated here.
  std::vector<std::optional<store::QueueItem>> enqueueMany(
      pqxx::transaction_base& tx, const std::vector<const store::EnqueueRequest*>& requests,
      Wakeups& wakeups);
  Result<std::vector<store::QueueItem>> claim(pqxx::transaction_base& tx, const store::ClaimRequest& request);
  Result<store::QueueItem> extend(pqxx::transaction_base& tx, const std::string& queue,
                                  const std::string& itemId, const std::string& leaseToken,
                                  std::chrono::milliseconds lease);
  Status complete(pqxx::transaction_base& tx, const std::string& queue, const std::string& itemId,
                  const std::string& leaseToken);
  // Completes every (queue, id, token) in one statement. Returns, per entry,
  // whether it was completed; the others need complete() for their answer.
  std::vector<bool> completeMany(pqxx::transaction_base& tx,
                                 const std::vector<std::array<const std::string*, 3>>& entries);
  Status fail(pqxx::transaction_base& tx, const std::string& queue, const std::string& itemId,
              const std::string& leaseToken, std::chrono::milliseconds retryAfter, const std::string& error,
              Wakeups& wakeups);
  Status cancel(pqxx::transaction_base& tx, const std::string& queue, const std::string& itemId);
  Result<std::vector<store::QueueItem>> releaseExpired(pqxx::transaction_base& tx, const std::string& queue,
                                                       Wakeups& wakeups);
  Result<store::QueueItem> peek(pqxx::transaction_base& tx, const std::string& queue,
                                const std::string& itemId);
  Result<std::map<int, std::uint64_t>> depth(pqxx::transaction_base& tx, const std::string& queue);

  // events
  Result<std::uint64_t> append(pqxx::transaction_base& tx, const std::string& stream, const std::string& type,
                               const std::string& body);
  // What append() checks before it writes.
  Status checkEvent(const std::string& stream, const std::string& type, const std::string& body) const;
  // Events of one stream whose ids were handed out by a unit of work that holds
  // the stream's row lock (it appended to the stream before): ids
  // lastId + 1 .. lastId + events.size(), written in one statement.
  struct PendingEvent {
    std::string type, body;
  };
  Status appendMany(pqxx::transaction_base& tx, const std::string& stream, std::uint64_t lastId,
                    const std::vector<PendingEvent>& events);
  Result<std::vector<store::Event>> read(pqxx::transaction_base& tx, const std::string& stream,
                                         std::uint64_t afterId, std::size_t limit);
  Result<std::uint64_t> trim(pqxx::transaction_base& tx, const std::string& stream, std::int64_t beforeMs,
                             std::size_t limit);
  Result<std::uint64_t> eraseEvents(pqxx::transaction_base& tx, const std::string& stream,
                                    const std::vector<std::uint64_t>& ids);

  // counters
  // Adds each delta to its counter's row `shard` (the connection's pool slot:
  // two transactions of this store running at once never lock the same row),
  // in one statement.
  Status addToCounters(pqxx::transaction_base& tx, std::size_t shard,
                       const std::map<std::string, std::int64_t>& deltas);
  Result<std::map<std::string, std::int64_t>> counters(pqxx::transaction_base& tx, const std::string& prefix);

  const Limits& limits() const { return limits_; }

 private:
  Status checkIndex(pqxx::transaction_base& tx, const std::string& collection,
                    const std::map<std::string, std::string>& index);
  // Why a guarded change to an item matched no row: gone, or the token is stale.
  Status itemMismatch(pqxx::transaction_base& tx, const std::string& queue, const std::string& itemId);

  const Limits limits_;
  CollectionCache collections_;
};

}  // namespace hive::storage_postgres
