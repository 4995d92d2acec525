#include "hive/testing/memory_store.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

#include "hive/callbacks.hpp"
#include "hive/services/store_names.hpp"

namespace hive::testing {
namespace {

using store::checkFieldName;
using store::checkId;
using store::checkName;
using store::quoted;

// The bounds the real providers check too.
constexpr std::size_t kMaxListLimit = 1000;
constexpr std::size_t kMaxClaimItems = 1000;
constexpr std::size_t kMaxEventLimit = 10000;
constexpr std::size_t kMaxCounters = 10000;
constexpr std::chrono::milliseconds kMaxLease = std::chrono::hours(24);
constexpr std::chrono::milliseconds kMaxRetryAfter = std::chrono::hours(24 * 365);
// The wake-up thread looks at the clock at least this often while a timed
// wake-up waits: an injected clock may move without telling anyone.
constexpr std::chrono::milliseconds kTimerPoll{250};

std::string toHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::optional<std::string> fromHex(std::string_view hex) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int high = digit(hex[i]), low = digit(hex[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
  }
  return out;
}

std::uint64_t fnv1a(std::string_view text, std::uint64_t hash = 1469598103934665603ull) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

// A cursor names the last id of its page, with a checksum that binds it to the
// collection: a cursor this store did not issue, or issued for another
// collection, is refused.
std::string makeCursor(const std::string& collection, const std::string& lastId) {
  std::uint64_t sum = fnv1a(lastId, fnv1a(collection + '\0' + "hive.testing.memory_store.cursor/1"));
  return "m1." + toHex(lastId) + "." + std::to_string(sum);
}

Result<std::string> parseCursor(const std::string& collection, const std::string& cursor) {
  auto refused = invalidArgument("cursor " + quoted(cursor) + " was not issued by this store");
  if (cursor.rfind("m1.", 0) != 0) return refused;
  auto dot = cursor.find('.', 3);
  if (dot == std::string::npos) return refused;
  auto lastId = fromHex(std::string_view(cursor).substr(3, dot - 3));
  if (!lastId || !checkId(*lastId, "cursor").ok() || makeCursor(collection, *lastId) != cursor)
    return refused;
  return *lastId;
}

Status checkVersion(const store::Document* stored, std::uint64_t expected, const std::string& collection,
                    const std::string& id) {
  if (expected == store::kAnyVersion) return okStatus();
  std::uint64_t actual = stored != nullptr ? stored->version : 0;
  if (actual == expected) return okStatus();
  return aborted(
      "version conflict on " + collection + "/" + quoted(id) + ": expected version " +
      (expected == store::kMustNotExist ? std::string("none (must not exist)") : std::to_string(expected)) +
      ", stored " + (stored != nullptr ? std::to_string(stored->version) : std::string("none")));
}

Status checkLease(std::chrono::milliseconds lease) {
  if (lease.count() > 0 && lease <= kMaxLease) return okStatus();
  return invalidArgument("lease of " + std::to_string(lease.count()) + " ms must be between 1 ms and 24 h");
}

Status checkLimit(std::string_view what, std::size_t limit, std::size_t most) {
  if (limit >= 1 && limit <= most) return okStatus();
  return invalidArgument(std::string(what) + " " + std::to_string(limit) + " must be between 1 and " +
                         std::to_string(most));
}

std::int64_t saturatingAdd(std::int64_t a, std::int64_t b) {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) return b > 0 ? std::numeric_limits<std::int64_t>::max() : 0;
  return sum;
}

// ---------------------------------------------------------------- what is stored

struct Collection {
  std::set<std::string> fields;
  std::map<std::string, store::Document> documents;  // by id: list() pages in id order
};

struct Queue {
  std::map<std::string, store::QueueItem> items;  // by id
  // Claim order: highest priority first, then the order of enqueue.
  std::map<std::pair<int, std::uint64_t>, std::string> order;  // (-priority, sequence) -> id
  std::map<std::string, std::uint64_t> sequences;              // id -> sequence
  std::map<std::string, std::string> idempotencyKeys;          // key -> id
};

struct Stream {
  std::map<std::uint64_t, store::Event> events;
  std::uint64_t lastId = 0;  // survives trim(): ids are never reused
};

// What a committed change means for onClaimable subscribers.
struct Wakeups {
  std::set<std::string> now;               // queues with an item claimable now
  std::map<std::string, std::int64_t> at;  // queue -> earliest time an item becomes claimable

  void later(const std::string& queue, std::int64_t ms) {
    auto [it, inserted] = at.try_emplace(queue, ms);
    if (!inserted) it->second = std::min(it->second, ms);
  }
};

struct Tables {
  std::function<std::chrono::system_clock::time_point()> clock;
  std::map<std::string, Collection> collections;
  std::map<std::string, Queue> queues;
  std::map<std::string, Stream> streams;
  std::map<std::string, std::int64_t> counters;
  std::uint64_t nextSequence = 1;
  std::mt19937_64 random{std::random_device{}() ^ (std::uint64_t{std::random_device{}()} << 32)};

  std::int64_t nowMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock().time_since_epoch()).count();
  }
  // 128 random bits as 32 hex digits: a lease token nobody guesses.
  std::string token() {
    std::uint64_t words[2] = {random(), random()};
    return toHex(std::string_view(reinterpret_cast<const char*>(words), sizeof words));
  }
  // The earliest time after `now` at which an item of `queue` becomes
  // claimable (its notBefore, or the end of its lease); nullopt when none.
  std::optional<std::int64_t> nextClaimableAt(const std::string& queue, std::int64_t now) const {
    auto found = queues.find(queue);
    if (found == queues.end()) return std::nullopt;
    std::optional<std::int64_t> next;
    for (const auto& [id, item] : found->second.items) {
      std::int64_t at =
          item.leaseToken.empty() ? item.notBeforeMs : std::max(item.notBeforeMs, item.leaseExpiresMs);
      if (at > now && (!next || at < *next)) next = at;
    }
    return next;
  }
};

bool claimable(const store::QueueItem& item, std::int64_t now) {
  return item.notBeforeMs <= now && (item.leaseToken.empty() || item.leaseExpiresMs <= now);
}

bool waiting(const store::QueueItem& item, std::int64_t now) {
  return item.leaseToken.empty() || item.leaseExpiresMs <= now;
}

// ---------------------------------------------------------------- one unit of work

// Every operation, on the tables, with the store's lock held by the caller.
// Each change records how to undo it: a unit that is not committed is rolled
// back, in reverse order, when it is destroyed. Operations check everything
// before they change anything, so a refused one leaves nothing to undo.
class Unit final : public store::Transaction {
 public:
  explicit Unit(Tables& tables) : tables_(tables) {}
  ~Unit() override {
    while (!undo_.empty()) {
      undo_.back()();
      undo_.pop_back();
    }
  }
  Unit(const Unit&) = delete;
  Unit& operator=(const Unit&) = delete;

  // Keeps the changes; returns the wake-ups they make.
  Wakeups commit() {
    undo_.clear();
    return std::move(wakeups_);
  }

  // ---- store::Transaction
  Result<store::Document> get(const std::string& collection, const std::string& id) override {
    HIVE_TRY(checkName(collection, "collection"));
    HIVE_TRY(checkId(id, "document"));
    if (const auto* document = findDocument(collection, id)) return *document;
    return notFound("no document " + collection + "/" + quoted(id));
  }

  Result<store::Document> put(const std::string& collection, store::Document document,
                              std::uint64_t expectedVersion) override {
    HIVE_TRY(checkName(collection, "collection"));
    HIVE_TRY(checkId(document.id, "document"));
    if (!document.index.empty()) {
      auto declared = tables_.collections.find(collection);
      for (const auto& [field, value] : document.index)
        if (declared == tables_.collections.end() || declared->second.fields.count(field) == 0)
          return invalidArgument("index field " + quoted(field) + " is not declared for collection " +
                                 collection);
    }
    const store::Document* stored = findDocument(collection, document.id);
    HIVE_TRY(checkVersion(stored, expectedVersion, collection, document.id));
    std::int64_t now = tables_.nowMs();
    document.version = stored != nullptr ? stored->version + 1 : 1;
    document.createdAtMs = stored != nullptr ? stored->createdAtMs : now;
    document.updatedAtMs = now;
    auto& documents = tables_.collections[collection].documents;
    rememberDocument(collection, document.id, stored);
    documents.insert_or_assign(document.id, document);
    return document;
  }

  Status remove(const std::string& collection, const std::string& id,
                std::uint64_t expectedVersion) override {
    HIVE_TRY(checkName(collection, "collection"));
    HIVE_TRY(checkId(id, "document"));
    const store::Document* stored = findDocument(collection, id);
    if (stored == nullptr) return notFound("no document " + collection + "/" + quoted(id));
    HIVE_TRY(checkVersion(stored, expectedVersion, collection, id));
    rememberDocument(collection, id, stored);
    tables_.collections[collection].documents.erase(id);
    return okStatus();
  }

  Result<store::QueueItem> enqueue(store::EnqueueRequest request) override {
    HIVE_TRY(checkName(request.queue, "queue"));
    if (request.priority < 1 || request.priority > 10)
      return invalidArgument("priority " + std::to_string(request.priority) + " must be between 1 and 10");
    if (request.notBeforeMs < 0) return invalidArgument("notBeforeMs must not be negative");
    if (!request.id.empty()) HIVE_TRY(checkId(request.id, "item"));
    Queue& queue = tables_.queues[request.queue];
    if (!request.idempotencyKey.empty()) {
      auto first = queue.idempotencyKeys.find(request.idempotencyKey);
      if (first != queue.idempotencyKeys.end()) return queue.items.at(first->second);
    }
    std::uint64_t sequence = tables_.nextSequence++;
    if (request.id.empty()) {
      // Deterministic, and never one the caller chose already.
      for (std::uint64_t n = sequence; request.id.empty() || queue.items.count(request.id) != 0; ++n)
        request.id = "item-" + std::to_string(n);
    } else if (queue.items.count(request.id) != 0) {
      return alreadyExists("item " + quoted(request.id) + " already in queue " + request.queue);
    }

    store::QueueItem item;
    item.queue = std::move(request.queue);
    item.id = std::move(request.id);
    item.payload = std::move(request.payload);
    item.priority = request.priority;
    item.notBeforeMs = request.notBeforeMs;
    item.enqueuedAtMs = tables_.nowMs();
    item.idempotencyKey = std::move(request.idempotencyKey);
    insertItem(queue, item, sequence);
    undo_.emplace_back([this, name = item.queue, id = item.id] { eraseItem(tables_.queues.at(name), id); });
    if (item.notBeforeMs <= item.enqueuedAtMs)
      wakeups_.now.insert(item.queue);
    else
      wakeups_.later(item.queue, item.notBeforeMs);
    return item;
  }

  Status complete(const std::string& queue, const std::string& itemId,
                  const std::string& leaseToken) override {
    HIVE_TRY(leasedItem(queue, itemId, leaseToken));
    removeItem(queue, itemId);
    return okStatus();
  }

  Status fail(const std::string& queue, const std::string& itemId, const std::string& leaseToken,
              std::chrono::milliseconds retryAfter, const std::string& error) override {
    if (retryAfter.count() < 0) return invalidArgument("retryAfter must not be negative");
    if (retryAfter > kMaxRetryAfter) return invalidArgument("retryAfter must be at most a year");
    store::QueueItem* item = HIVE_TRY(leasedItem(queue, itemId, leaseToken));
    rememberItem(*item);
    std::int64_t now = tables_.nowMs();
    item->leaseToken.clear();
    item->claimant.clear();
    item->leaseExpiresMs = 0;
    item->notBeforeMs = now + retryAfter.count();
    item->lastError = error;
    if (retryAfter.count() == 0)
      wakeups_.now.insert(queue);
    else
      wakeups_.later(queue, item->notBeforeMs);
    return okStatus();
  }

  Status cancel(const std::string& queue, const std::string& itemId) override {
    HIVE_TRY(checkName(queue, "queue"));
    HIVE_TRY(checkId(itemId, "item"));
    HIVE_TRY(findItem(queue, itemId));
    removeItem(queue, itemId);
    return okStatus();
  }

  Result<std::uint64_t> append(const std::string& stream, const std::string& type,
                               const std::string& body) override {
    HIVE_TRY(checkName(stream, "stream"));
    Stream& events = tables_.streams[stream];
    store::Event event{stream, events.lastId + 1, type, body, tables_.nowMs()};
    events.events.emplace(event.id, event);
    events.lastId = event.id;
    undo_.emplace_back([this, stream, id = event.id] {
      Stream& undone = tables_.streams.at(stream);
      undone.events.erase(id);
      undone.lastId = id - 1;
    });
    return event.id;
  }

  Result<std::vector<store::QueueItem>> claim(const store::ClaimRequest& request) override {
    HIVE_TRY(checkName(request.queue, "queue"));
    HIVE_TRY(checkLease(request.lease));
    HIVE_TRY(checkLimit("maxItems", request.maxItems, kMaxClaimItems));
    if (request.minPriority < 1 || request.minPriority > 10)
      return invalidArgument("minPriority " + std::to_string(request.minPriority) +
                             " must be between 1 and 10");
    std::vector<store::QueueItem> claimed;
    auto found = tables_.queues.find(request.queue);
    if (found == tables_.queues.end()) return claimed;
    std::int64_t now = tables_.nowMs();
    std::int64_t expires = saturatingAdd(now, request.lease.count());
    for (const auto& [key, id] : found->second.order) {
      if (claimed.size() == request.maxItems || -key.first < request.minPriority) break;
      store::QueueItem& item = found->second.items.at(id);
      if (!claimable(item, now)) continue;
      rememberItem(item);
      item.attempts += 1;
      item.leaseToken = tables_.token();
      item.claimant = request.claimant;
      item.leaseExpiresMs = expires;
      claimed.push_back(item);
    }
    if (!claimed.empty()) wakeups_.later(request.queue, expires);
    return claimed;
  }

  Result<store::QueueItem> extend(const std::string& queue, const std::string& itemId,
                                  const std::string& leaseToken, std::chrono::milliseconds lease) override {
    HIVE_TRY(checkLease(lease));
    store::QueueItem* item = HIVE_TRY(leasedItem(queue, itemId, leaseToken));
    rememberItem(*item);
    item->leaseExpiresMs = saturatingAdd(tables_.nowMs(), lease.count());
    wakeups_.later(queue, item->leaseExpiresMs);
    return *item;
  }

  Status addToCounter(const std::string& name, std::int64_t delta) override {
    HIVE_TRY(checkName(name, "counter"));
    auto found = tables_.counters.find(name);
    std::optional<std::int64_t> before;
    if (found != tables_.counters.end()) before = found->second;
    std::int64_t sum = 0;
    if (__builtin_add_overflow(before.value_or(0), delta, &sum))
      return Status(StatusCode::kOutOfRange, "counter " + name + " at " + std::to_string(before.value_or(0)) +
                                                 " plus " + std::to_string(delta) +
                                                 " leaves the signed 64-bit range");
    tables_.counters[name] = sum;
    undo_.emplace_back([this, name, before] {
      if (before)
        tables_.counters[name] = *before;
      else
        tables_.counters.erase(name);
    });
    return okStatus();
  }

  // ---- the Store's operations that no Transaction has

  Status declareCollection(const store::CollectionSpec& spec) {
    HIVE_TRY(checkName(spec.name, "collection"));
    for (const auto& field : spec.indexedFields) HIVE_TRY(checkFieldName(field));
    // Fields are only ever added: documents already stored keep theirs.
    tables_.collections[spec.name].fields.insert(spec.indexedFields.begin(), spec.indexedFields.end());
    return okStatus();
  }

  Result<store::Page> list(const store::ListQuery& query) {
    HIVE_TRY(checkName(query.collection, "collection"));
    HIVE_TRY(checkLimit("list limit", query.limit, kMaxListLimit));
    auto found = tables_.collections.find(query.collection);
    for (const auto& [field, value] : query.equals)
      if (found == tables_.collections.end() || found->second.fields.count(field) == 0)
        return invalidArgument("index field " + quoted(field) + " is not declared for collection " +
                               query.collection);
    std::string after;
    if (!query.cursor.empty()) after = HIVE_TRY(parseCursor(query.collection, query.cursor));
    store::Page page;
    if (found == tables_.collections.end()) return page;
    const auto& documents = found->second.documents;
    auto matches = [&](const store::Document& document) {
      for (const auto& [field, value] : query.equals) {
        auto indexed = document.index.find(field);
        if (indexed == document.index.end() || indexed->second != value) return false;
      }
      return true;
    };
    for (auto it = query.cursor.empty() ? documents.begin() : documents.upper_bound(after);
         it != documents.end(); ++it) {
      if (!matches(it->second)) continue;
      if (page.items.size() == query.limit) {
        // One more matches: the page has a next one.
        page.nextCursor = makeCursor(query.collection, page.items.back().id);
        break;
      }
      page.items.push_back(it->second);
    }
    return page;
  }

  Result<std::vector<store::QueueItem>> releaseExpired(const std::string& queue) {
    HIVE_TRY(checkName(queue, "queue"));
    std::vector<store::QueueItem> released;
    auto found = tables_.queues.find(queue);
    if (found == tables_.queues.end()) return released;
    std::int64_t now = tables_.nowMs();
    for (const auto& [key, id] : found->second.order) {
      store::QueueItem& item = found->second.items.at(id);
      if (item.leaseToken.empty() || item.leaseExpiresMs > now) continue;
      released.push_back(item);  // as it was, with the expired token
      item.leaseToken.clear();
      item.claimant.clear();
      item.leaseExpiresMs = 0;
    }
    if (!released.empty()) wakeups_.now.insert(queue);
    return released;
  }

  Result<store::QueueItem> peek(const std::string& queue, const std::string& itemId) {
    HIVE_TRY(checkName(queue, "queue"));
    HIVE_TRY(checkId(itemId, "item"));
    return *HIVE_TRY(findItem(queue, itemId));
  }

  Result<std::map<int, std::uint64_t>> depth(const std::string& queue) {
    HIVE_TRY(checkName(queue, "queue"));
    std::map<int, std::uint64_t> depth;
    auto found = tables_.queues.find(queue);
    if (found == tables_.queues.end()) return depth;
    std::int64_t now = tables_.nowMs();
    for (const auto& [id, item] : found->second.items)
      if (waiting(item, now)) ++depth[item.priority];
    return depth;
  }

  Result<std::vector<store::Event>> read(const std::string& stream, std::uint64_t afterId,
                                         std::size_t limit) {
    HIVE_TRY(checkName(stream, "stream"));
    HIVE_TRY(checkLimit("read limit", limit, kMaxEventLimit));
    std::vector<store::Event> events;
    auto found = tables_.streams.find(stream);
    if (found == tables_.streams.end()) return events;
    const auto& stored = found->second.events;
    for (auto it = stored.upper_bound(afterId); it != stored.end() && events.size() < limit; ++it)
      events.push_back(it->second);
    return events;
  }

  Result<std::uint64_t> eraseEvents(const std::string& stream, const std::vector<std::uint64_t>& ids) {
    HIVE_TRY(checkName(stream, "stream"));
    if (ids.size() > kMaxEventLimit)
      return invalidArgument("at most " + std::to_string(kMaxEventLimit) +
                             " events are erased at once, got " + std::to_string(ids.size()));
    auto found = tables_.streams.find(stream);
    if (found == tables_.streams.end()) return std::uint64_t{0};
    std::uint64_t erased = 0;
    for (std::uint64_t id : ids) {
      auto event = found->second.events.find(id);
      if (event == found->second.events.end() || event->second.type == "erased") continue;
      event->second.type = "erased";
      event->second.body = "{}";
      ++erased;
    }
    return erased;
  }

  Result<std::uint64_t> trim(const std::string& stream, std::int64_t beforeMs, std::size_t limit) {
    HIVE_TRY(checkName(stream, "stream"));
    HIVE_TRY(checkLimit("trim limit", limit, kMaxEventLimit));
    auto found = tables_.streams.find(stream);
    if (found == tables_.streams.end()) return std::uint64_t{0};
    auto& events = found->second.events;
    std::uint64_t count = 0;
    // Stops at the first event too young, so that only a prefix goes even if
    // the clock stepped back.
    while (count < limit && !events.empty() && events.begin()->second.timestampMs < beforeMs) {
      events.erase(events.begin());
      ++count;
    }
    return count;
  }

  Result<std::map<std::string, std::int64_t>> counters(const std::string& prefix) {
    // A prefix of a valid name is a valid name: the name rule has no minimum
    // length past the first character.
    if (!prefix.empty()) HIVE_TRY(checkName(prefix, "counter prefix"));
    std::map<std::string, std::int64_t> out;
    for (auto it = tables_.counters.lower_bound(prefix);
         it != tables_.counters.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      if (out.size() == kMaxCounters)
        return Status(StatusCode::kOutOfRange, "more than " + std::to_string(kMaxCounters) +
                                                   " counters start with " + quoted(prefix) +
                                                   ": narrow the prefix");
      out.insert(*it);
    }
    return out;
  }

 private:
  const store::Document* findDocument(const std::string& collection, const std::string& id) const {
    auto found = tables_.collections.find(collection);
    if (found == tables_.collections.end()) return nullptr;
    auto document = found->second.documents.find(id);
    return document == found->second.documents.end() ? nullptr : &document->second;
  }

  Result<store::QueueItem*> findItem(const std::string& queue, const std::string& itemId) {
    auto found = tables_.queues.find(queue);
    if (found != tables_.queues.end()) {
      auto item = found->second.items.find(itemId);
      if (item != found->second.items.end()) return &item->second;
    }
    return notFound("no item " + quoted(itemId) + " in queue " + queue);
  }

  // The item, when `leaseToken` is its current lease (expired or not, as long
  // as nobody claimed it since).
  Result<store::QueueItem*> leasedItem(const std::string& queue, const std::string& itemId,
                                       const std::string& leaseToken) {
    HIVE_TRY(checkName(queue, "queue"));
    HIVE_TRY(checkId(itemId, "item"));
    store::QueueItem* item = HIVE_TRY(findItem(queue, itemId));
    if (leaseToken.empty() || item->leaseToken != leaseToken)
      return failedPrecondition("stale lease on item " + quoted(itemId) + " of queue " + queue +
                                ": the token is not the item's current one");
    return item;
  }

  static void insertItem(Queue& queue, const store::QueueItem& item, std::uint64_t sequence) {
    queue.items.insert_or_assign(item.id, item);
    queue.order.emplace(std::pair{-item.priority, sequence}, item.id);
    queue.sequences[item.id] = sequence;
    if (!item.idempotencyKey.empty()) queue.idempotencyKeys[item.idempotencyKey] = item.id;
  }

  static void eraseItem(Queue& queue, const std::string& id) {
    auto item = queue.items.find(id);
    if (item == queue.items.end()) return;
    auto sequence = queue.sequences.find(id);
    queue.order.erase(std::pair{-item->second.priority, sequence->second});
    if (!item->second.idempotencyKey.empty()) queue.idempotencyKeys.erase(item->second.idempotencyKey);
    queue.sequences.erase(sequence);
    queue.items.erase(item);
  }

  // Removes an item that exists; puts it back, at its place in the claim
  // order, on rollback.
  void removeItem(const std::string& queueName, const std::string& id) {
    Queue& queue = tables_.queues.at(queueName);
    store::QueueItem item = queue.items.at(id);
    std::uint64_t sequence = queue.sequences.at(id);
    eraseItem(queue, id);
    undo_.emplace_back([this, item = std::move(item), sequence] {
      insertItem(tables_.queues.at(item.queue), item, sequence);
    });
  }

  // Records the item as it is now, to put back on rollback.
  void rememberItem(const store::QueueItem& item) {
    undo_.emplace_back([this, item] { tables_.queues.at(item.queue).items.at(item.id) = item; });
  }

  void rememberDocument(const std::string& collection, const std::string& id, const store::Document* stored) {
    std::optional<store::Document> before;
    if (stored != nullptr) before = *stored;
    undo_.emplace_back([this, collection, id, before = std::move(before)] {
      auto& documents = tables_.collections.at(collection).documents;
      if (before)
        documents.insert_or_assign(id, *before);
      else
        documents.erase(id);
    });
  }

  Tables& tables_;
  std::vector<std::function<void()>> undo_;
  Wakeups wakeups_;
};

}  // namespace

// ---------------------------------------------------------------- the store

struct MemoryStore::State {
  // Runs `operation` on a fresh unit under the lock, and commits it when it
  // succeeds (a failed one rolls back as the unit goes).
  template <typename Operation>
  auto run(Operation&& operation) -> std::invoke_result_t<Operation, Unit&> {
    if (Status refused = reentered(); !refused.ok()) return refused;
    std::unique_lock lock(mutex);
    if (Status failure = takeFailure(); !failure.ok()) return failure;
    Unit unit(tables);
    auto result = operation(unit);
    if (result.ok()) schedule(unit.commit());
    return result;
  }

  // A unit's work that calls the store (not its Transaction) on the unit's
  // thread would wait for the lock its own unit holds.
  Status reentered() const {
    if (unitThread.load() != std::this_thread::get_id()) return okStatus();
    return failedPrecondition(
        "MemoryStore called from inside transact() on the unit's own thread: use the Transaction (a real "
        "store may deadlock or not see the unit's writes)");
  }

  // Under `mutex`: the failure failNext() armed, if any is left.
  Status takeFailure() {
    if (failuresLeft == 0) return okStatus();
    --failuresLeft;
    return failure;
  }

  // Under `mutex`.
  void schedule(const Wakeups& wakeups) {
    if (wakeups.now.empty() && wakeups.at.empty()) return;
    pending.insert(wakeups.now.begin(), wakeups.now.end());
    for (const auto& [queue, at] : wakeups.at) {
      auto [it, inserted] = timers.try_emplace(queue, at);
      if (!inserted) it->second = std::min(it->second, at);
    }
    changed.notify_all();
  }

  // Under `mutex`: moves the timers that are due to `pending`, each followed by
  // the queue's next time, if any.
  void takeDueTimers() {
    if (timers.empty()) return;
    std::int64_t now = tables.nowMs();
    for (auto it = timers.begin(); it != timers.end();) {
      if (it->second > now) {
        ++it;
        continue;
      }
      pending.insert(it->first);
      auto next = tables.nextClaimableAt(it->first, now);
      if (next) {
        it->second = *next;
        ++it;
      } else {
        it = timers.erase(it);
      }
    }
  }

  bool timerDue() const {
    if (timers.empty()) return false;
    std::int64_t now = tables.nowMs();
    for (const auto& [queue, at] : timers)
      if (at <= now) return true;
    return false;
  }

  // The wake-up thread: delivers pending wake-ups, one queue at a time, with no
  // lock held, and sleeps until the next timer (at most kTimerPoll).
  void deliver() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      takeDueTimers();
      if (!pending.empty()) {
        std::set<std::string> queues = std::move(pending);
        pending.clear();
        delivering = true;
        lock.unlock();
        for (const auto& queue : queues)
          subscribers.fireWhere([&](const std::string& key) { return key == queue; });
        lock.lock();
        delivering = false;
        changed.notify_all();
        continue;
      }
      if (timers.empty()) {
        changed.wait(lock);
        continue;
      }
      std::int64_t earliest = std::numeric_limits<std::int64_t>::max();
      for (const auto& [queue, at] : timers) earliest = std::min(earliest, at);
      // notBefore may be INT64_MAX: the difference must not overflow into a
      // wait that never ends or never starts.
      std::int64_t left = 0;
      bool far = __builtin_sub_overflow(earliest, tables.nowMs(), &left) || left > kTimerPoll.count();
      changed.wait_for(lock, far ? kTimerPoll : std::chrono::milliseconds(std::max<std::int64_t>(left, 1)));
    }
  }

  mutable std::mutex mutex;
  // Signals work for the wake-up thread (pending, timers, stop, a drain()) and
  // the end of a delivery round (for drain()).
  std::condition_variable changed;
  Tables tables;
  std::atomic<std::thread::id> unitThread{};
  Status failure;
  std::size_t failuresLeft = 0;

  std::set<std::string> pending;               // queues to wake now
  std::map<std::string, std::int64_t> timers;  // queue -> next time an item of it becomes claimable
  bool delivering = false;
  bool stopping = false;
  CallbackRegistry<> subscribers;
  std::vector<std::string> callbackErrors;  // under `mutex`
  std::thread thread;
};

MemoryStore::MemoryStore() : MemoryStore(Options{}) {}

MemoryStore::MemoryStore(Options options) : state_(std::make_unique<State>()) {
  State* state = state_.get();
  state->tables.clock =
      options.clock ? std::move(options.clock) : [] { return std::chrono::system_clock::now(); };
  state->subscribers.onError([state](const std::string& queue, const std::string& what) {
    std::lock_guard lock(state->mutex);
    state->callbackErrors.push_back(queue + ": " + what);
  });
  state->thread = std::thread([state] { state->deliver(); });
}

MemoryStore::~MemoryStore() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->changed.notify_all();
  state_->thread.join();
}

bool MemoryStore::drain(std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mutex);
  state_->changed.notify_all();  // the wake-up thread looks at the clock again
  return state_->changed.wait_for(
      lock, timeout, [&] { return state_->pending.empty() && !state_->delivering && !state_->timerDue(); });
}

void MemoryStore::failNext(Status status, std::size_t calls) {
  std::lock_guard lock(state_->mutex);
  state_->failure = std::move(status);
  state_->failuresLeft = calls;
}

std::size_t MemoryStore::subscriptions() const { return state_->subscribers.size(); }

std::vector<std::string> MemoryStore::callbackErrors() const {
  std::lock_guard lock(state_->mutex);
  return state_->callbackErrors;
}

// ---- documents

Status MemoryStore::declareCollection(const store::CollectionSpec& spec) {
  return state_->run([&](Unit& unit) { return unit.declareCollection(spec); });
}

Result<store::Document> MemoryStore::get(const std::string& collection, const std::string& id) {
  return state_->run([&](Unit& unit) { return unit.get(collection, id); });
}

Result<store::Document> MemoryStore::put(const std::string& collection, store::Document document,
                                         std::uint64_t expectedVersion) {
  return state_->run([&](Unit& unit) { return unit.put(collection, std::move(document), expectedVersion); });
}

Status MemoryStore::remove(const std::string& collection, const std::string& id,
                           std::uint64_t expectedVersion) {
  return state_->run([&](Unit& unit) { return unit.remove(collection, id, expectedVersion); });
}

Result<store::Page> MemoryStore::list(const store::ListQuery& query) {
  return state_->run([&](Unit& unit) { return unit.list(query); });
}

// ---- queue

Result<store::QueueItem> MemoryStore::enqueue(store::EnqueueRequest request) {
  return state_->run([&](Unit& unit) { return unit.enqueue(std::move(request)); });
}

Result<std::vector<store::QueueItem>> MemoryStore::claim(const store::ClaimRequest& request) {
  return state_->run([&](Unit& unit) { return unit.claim(request); });
}

Result<store::QueueItem> MemoryStore::extend(const std::string& queue, const std::string& itemId,
                                             const std::string& leaseToken, std::chrono::milliseconds lease) {
  return state_->run([&](Unit& unit) { return unit.extend(queue, itemId, leaseToken, lease); });
}

Status MemoryStore::complete(const std::string& queue, const std::string& itemId,
                             const std::string& leaseToken) {
  return state_->run([&](Unit& unit) { return unit.complete(queue, itemId, leaseToken); });
}

Status MemoryStore::fail(const std::string& queue, const std::string& itemId, const std::string& leaseToken,
                         std::chrono::milliseconds retryAfter, const std::string& error) {
  return state_->run([&](Unit& unit) { return unit.fail(queue, itemId, leaseToken, retryAfter, error); });
}

Status MemoryStore::cancel(const std::string& queue, const std::string& itemId) {
  return state_->run([&](Unit& unit) { return unit.cancel(queue, itemId); });
}

Result<std::vector<store::QueueItem>> MemoryStore::releaseExpired(const std::string& queue) {
  return state_->run([&](Unit& unit) { return unit.releaseExpired(queue); });
}

Result<store::QueueItem> MemoryStore::peek(const std::string& queue, const std::string& itemId) {
  return state_->run([&](Unit& unit) { return unit.peek(queue, itemId); });
}

Result<std::map<int, std::uint64_t>> MemoryStore::depth(const std::string& queue) {
  return state_->run([&](Unit& unit) { return unit.depth(queue); });
}

std::unique_ptr<Subscription> MemoryStore::onClaimable(const std::string& queue,
                                                       std::function<void()> callback) {
  return state_->subscribers.subscribe(std::move(callback), queue);
}

// ---- event logs

Result<std::uint64_t> MemoryStore::append(const std::string& stream, const std::string& type,
                                          const std::string& body) {
  return state_->run([&](Unit& unit) { return unit.append(stream, type, body); });
}

Result<std::vector<store::Event>> MemoryStore::read(const std::string& stream, std::uint64_t afterId,
                                                    std::size_t limit) {
  return state_->run([&](Unit& unit) { return unit.read(stream, afterId, limit); });
}

Result<std::uint64_t> MemoryStore::trim(const std::string& stream, std::int64_t beforeMs, std::size_t limit) {
  return state_->run([&](Unit& unit) { return unit.trim(stream, beforeMs, limit); });
}

Result<std::uint64_t> MemoryStore::eraseEvents(const std::string& stream,
                                               const std::vector<std::uint64_t>& ids) {
  return state_->run([&](Unit& unit) { return unit.eraseEvents(stream, ids); });
}

// ---- counters

Result<std::map<std::string, std::int64_t>> MemoryStore::counters(const std::string& prefix) {
  return state_->run([&](Unit& unit) { return unit.counters(prefix); });
}

// ---- units of work

Status MemoryStore::transact(const std::function<Status(store::Transaction&)>& work) {
  return state_->run([&](Unit& unit) {
    // Marks the unit's thread while `work` runs, even if it throws.
    struct Mark {
      std::atomic<std::thread::id>& thread;
      explicit Mark(std::atomic<std::thread::id>& t) : thread(t) { thread = std::this_thread::get_id(); }
      ~Mark() { thread = std::thread::id{}; }
    } mark(state_->unitThread);
    return work(unit);
  });
}

// ---- health

Status MemoryStore::ping() {
  return state_->run([](Unit&) { return okStatus(); });
}

std::uint32_t MemoryStore::schemaVersion() const { return 1; }

}  // namespace hive::testing
