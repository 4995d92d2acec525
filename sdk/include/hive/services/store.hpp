// hive.store/1 — durable state: versioned documents, a work queue with leases,
// append-only event logs, and units of work across them. No SQL here: providers
// (storage_sqlite, storage_postgres, or a third party's) map it to their engine
// and pass hive/testing/store_conformance.hpp
// (Hive::sdk_testing).
//
// Every call blocks until the change is durable (or refused). Call it from the
// blocking executor (PluginContext::blocking()), never from an I/O thread.
// All methods are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hive/services.hpp"
#include "hive/status.hpp"

namespace hive::store {

// Names of collections, queues and streams: [a-z][a-z0-9_.-]{0,62}.
// Document and item ids: 1..128 printable ASCII characters.

// put()/remove() expected versions.
inline constexpr std::uint64_t kAnyVersion = ~std::uint64_t{0};
inline constexpr std::uint64_t kMustNotExist = 0;

struct Document {
  std::string id;
  std::uint64_t version = 0;  // 1 on create, +1 on every put
  std::string body;           // opaque to the store (JSON by convention)
  // Values of the collection's indexed fields, the only thing list() filters on.
  std::map<std::string, std::string> index;
  std::int64_t createdAtMs = 0;  // Unix epoch milliseconds, set by the store
  std::int64_t updatedAtMs = 0;
};

struct CollectionSpec {
  std::string name;
  std::vector<std::string> indexedFields;  // names: [a-z][a-z0-9_]*
};

struct ListQuery {
  std::string collection;
  std::map<std::string, std::string> equals;  // indexed field → value, all must match
  std::size_t limit = 100;                    // 1..1000
  std::string cursor;                         // from the previous page; empty = first page
};

struct Page {
  std::vector<Document> items;  // in id order
  std::string nextCursor;       // empty on the last page
};

struct EnqueueRequest {
  std::string queue;
  std::string payload;
  int priority = 5;              // 1 (lowest) .. 10 (highest); claimed highest first, then oldest
  std::int64_t notBeforeMs = 0;  // not claimable before this epoch time
  std::string idempotencyKey;    // when set, a second enqueue with it returns the first item
  std::string id;                // optional; generated when empty
};

struct QueueItem {
  std::string queue;
  std::string id;
  std::string payload;
  int priority = 5;
  std::int64_t notBeforeMs = 0;
  std::int64_t enqueuedAtMs = 0;
  std::string idempotencyKey;
  std::uint32_t attempts = 0;  // claims so far (this claim included)
  std::string leaseToken;      // empty when not leased
  std::string claimant;
  std::int64_t leaseExpiresMs = 0;
  std::string lastError;
};

struct ClaimRequest {
  std::string queue;
  std::string claimant;  // who holds the lease (node/agent id), for inspection
  std::chrono::milliseconds lease{30000};
  std::size_t maxItems = 1;
  // Claim only items at or above this priority (aging/capability logic lives in the caller).
  int minPriority = 1;
};

struct Event {
  std::string stream;
  std::uint64_t id = 0;  // strictly increasing per stream, from 1
  std::string type;
  std::string body;
  std::int64_t timestampMs = 0;
};

// The operations a unit of work may combine; all commit together or not at all.
class Transaction {
 public:
  virtual ~Transaction() = default;
  virtual Result<Document> get(const std::string& collection, const std::string& id) = 0;
  virtual Result<Document> put(const std::string& collection, Document document,
                               std::uint64_t expectedVersion = kAnyVersion) = 0;
  virtual Status remove(const std::string& collection, const std::string& id,
                        std::uint64_t expectedVersion = kAnyVersion) = 0;
  virtual Result<QueueItem> enqueue(EnqueueRequest request) = 0;
  virtual Status complete(const std::string& queue, const std::string& itemId,
                          const std::string& leaseToken) = 0;
  virtual Status fail(const std::string& queue, const std::string& itemId, const std::string& leaseToken,
                      std::chrono::milliseconds retryAfter, const std::string& error) = 0;
  // Removes an item whatever its state (cancellation). kNotFound when absent.
  virtual Status cancel(const std::string& queue, const std::string& itemId) = 0;
  virtual Result<std::uint64_t> append(const std::string& stream, const std::string& type,
                                       const std::string& body) = 0;
  // As Store::claim() and Store::extend(), inside the unit of work (SDK ABI
  // 2.0): the claimed items, what the work records about them and their
  // extended leases commit together or not at all. When the unit rolls back the
  // items are claimable again, unleased and with their attempts unchanged. Two
  // units that claim at the same time never receive the same item. Lease times
  // count from the call, not from the commit.
  virtual Result<std::vector<QueueItem>> claim(const ClaimRequest& request) = 0;
  virtual Result<QueueItem> extend(const std::string& queue, const std::string& itemId,
                                   const std::string& leaseToken, std::chrono::milliseconds lease) = 0;
  // Adds `delta` (may be negative) to the counter `name`, created at 0, with
  // the rest of the unit of work: counts kept exact without listing what they
  // count (Store::counters() reads them). Names follow the collection name
  // rule. Values are signed 64-bit: kOutOfRange when the sum would leave that
  // range. Units of work adding to the same counter at once do not lose an
  // update. (SDK ABI 2.0)
  virtual Status addToCounter(const std::string& name, std::int64_t delta) = 0;
};

class Store : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.store", 1};

  // ---- documents ----
  // Declares a collection and its indexed fields; idempotent. Declaring more
  // fields later adds them (existing documents get them on their next put).
  virtual Status declareCollection(const CollectionSpec& spec) = 0;
  // kNotFound when absent.
  virtual Result<Document> get(const std::string& collection, const std::string& id) = 0;
  // Creates or replaces. kAborted ("version conflict") when the stored version is
  // not `expectedVersion` (kMustNotExist: must not exist). Index keys must be
  // declared (kInvalidArgument). Returns the stored document with its new version.
  virtual Result<Document> put(const std::string& collection, Document document,
                               std::uint64_t expectedVersion = kAnyVersion) = 0;
  virtual Status remove(const std::string& collection, const std::string& id,
                        std::uint64_t expectedVersion = kAnyVersion) = 0;
  // kInvalidArgument for an undeclared field or a cursor this store did not issue.
  virtual Result<Page> list(const ListQuery& query) = 0;

  // ---- work queue ----
  virtual Result<QueueItem> enqueue(EnqueueRequest request) = 0;
  // Leases up to maxItems claimable items (not before notBefore, not leased or
  // lease expired), highest priority first, then oldest. Two claimers never
  // receive the same item while its lease is valid. Empty when none.
  virtual Result<std::vector<QueueItem>> claim(const ClaimRequest& request) = 0;
  // Moves the lease's expiry to now + `lease`. kFailedPrecondition ("stale lease")
  // when `leaseToken` is not the item's current token (or it expired and was
  // claimed again); kNotFound when the item is gone.
  virtual Result<QueueItem> extend(const std::string& queue, const std::string& itemId,
                                   const std::string& leaseToken, std::chrono::milliseconds lease) = 0;
  // Done: the item is removed. Stale token: kFailedPrecondition, nothing changes.
  virtual Status complete(const std::string& queue, const std::string& itemId,
                          const std::string& leaseToken) = 0;
  // Not done: the lease is dropped and the item is claimable again after `retryAfter`.
  virtual Status fail(const std::string& queue, const std::string& itemId, const std::string& leaseToken,
                      std::chrono::milliseconds retryAfter, const std::string& error) = 0;
  virtual Status cancel(const std::string& queue, const std::string& itemId) = 0;
  // Drops leases that have expired, making their items claimable; returns them
  // (as they were, with the expired token) so the caller can record the timeout.
  virtual Result<std::vector<QueueItem>> releaseExpired(const std::string& queue) = 0;
  virtual Result<QueueItem> peek(const std::string& queue, const std::string& itemId) = 0;
  // Items waiting (not leased), by priority.
  virtual Result<std::map<int, std::uint64_t>> depth(const std::string& queue) = 0;
  // `callback` runs (on some store thread, without locks held) soon after an item
  // becomes claimable in `queue`, including items enqueued by other processes when
  // the store is shared (PostgreSQL: LISTEN/NOTIFY). Hints only: claim() decides.
  [[nodiscard]] virtual std::unique_ptr<Subscription> onClaimable(const std::string& queue,
                                                                  std::function<void()> callback) = 0;

  // ---- event logs ----
  virtual Result<std::uint64_t> append(const std::string& stream, const std::string& type,
                                       const std::string& body) = 0;
  // Events with id > afterId, oldest first, at most `limit` (1..10000).
  virtual Result<std::vector<Event>> read(const std::string& stream, std::uint64_t afterId,
                                          std::size_t limit = 1000) = 0;
  // Retention (SDK ABI 2.0): deletes the oldest events of `stream`, in id
  // order, at most `limit` (1..10000) of them, stopping at the first whose
  // timestamp is not before `beforeMs` — what remains is always the newest part
  // of the stream. Returns how many went. Ids are never reused: appends go on
  // after the last id ever given, even when every event was deleted.
  virtual Result<std::uint64_t> trim(const std::string& stream, std::int64_t beforeMs, std::size_t limit) = 0;

  // ---- counters ----
  // The committed value of every counter whose name starts with `prefix`
  // (empty: all), by name (Transaction::addToCounter). A counter exists from
  // its first addition, even when it is back at 0. kInvalidArgument for a
  // prefix no name can start with; kOutOfRange when more than 10000 match.
  // (SDK ABI 2.0)
  virtual Result<std::map<std::string, std::int64_t>> counters(const std::string& prefix) = 0;

  // ---- units of work ----
  // Runs `work` in one transaction: commits when it returns OK, rolls back
  // otherwise (and returns its status). `work` may run more than once when the
  // engine asks for a retry (serialization failure): keep it free of side effects.
  virtual Status transact(const std::function<Status(Transaction&)>& work) = 0;

  // ---- health ----
  // OK when the store can serve; kUnavailable with the reason otherwise.
  virtual Status ping() = 0;
  // Schema version of the provider's own tables (for status output).
  virtual std::uint32_t schemaVersion() const = 0;
};

}  // namespace hive::store
