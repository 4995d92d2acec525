#include "operations.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "plugin_common/hex.hpp"
#include "validation.hpp"

namespace hive::storage_sqlite {

namespace {

std::uint64_t fnv1a(std::string_view text, std::uint64_t hash = 1469598103934665603ull) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

// Cursors name the last id of the page and carry a checksum binding them to the
// collection, so that a cursor this store did not issue is recognised.
std::string makeCursor(const std::string& collection, const std::string& lastId) {
  std::uint64_t sum = fnv1a(lastId, fnv1a(collection + '\0' + "hive.storage_sqlite.cursor/1"));
  std::string sumBytes;
  for (int i = 0; i < 8; ++i) sumBytes += static_cast<char>((sum >> (8 * i)) & 0xff);
  return "c1." + plugin_common::hexOf(lastId) + "." + plugin_common::hexOf(sumBytes);
}

Result<std::string> parseCursor(const std::string& collection, const std::string& cursor) {
  auto bad = [&] { return invalidArgument("cursor " + quoted(cursor) + " was not issued by this store"); };
  if (cursor.size() > 600 || cursor.rfind("c1.", 0) != 0) return bad();
  auto dot = cursor.find('.', 3);
  if (dot == std::string::npos) return bad();
  auto lastId = plugin_common::bytesOfHex(std::string_view(cursor).substr(3, dot - 3));
  if (!lastId || !checkId(*lastId, "cursor").ok()) return bad();
  if (makeCursor(collection, *lastId) != cursor) return bad();
  return *lastId;
}

// The index map as length-prefixed key/value pairs: "<len>:<key><len>:<value>...".
std::string encodeIndex(const std::map<std::string, std::string>& index) {
  std::string out;
  for (const auto& [key, value] : index) {
    out += std::to_string(key.size()) + ":" + key;
    out += std::to_string(value.size()) + ":" + value;
  }
  return out;
}

std::map<std::string, std::string> decodeIndex(std::string_view data) {
  std::map<std::string, std::string> out;
  auto next = [&](std::string& into) {
    auto colon = data.find(':');
    if (colon == std::string_view::npos) return false;
    std::size_t length = 0;
    for (char c : data.substr(0, colon)) {
      if (c < '0' || c > '9') return false;
      length = length * 10 + static_cast<std::size_t>(c - '0');
    }
    if (colon + 1 + length > data.size()) return false;
    into.assign(data.substr(colon + 1, length));
    data.remove_prefix(colon + 1 + length);
    return true;
  };
  std::string key, value;
  while (!data.empty() && next(key) && next(value)) out[key] = value;
  return out;
}

// One index entry, by its primary key (there is no index by document id: a
// document's entries are the ones its index_data lists).
Status eraseIndexEntry(Connection& c, const std::string& collection, const std::string& field,
                       const std::string& value, const std::string& id) {
  auto erase = HIVE_TRY(c.prepare(
      "DELETE FROM document_index WHERE collection = ?1 AND field = ?2 AND value = ?3 AND id = ?4"));
  return erase.bindText(1, collection).bindText(2, field).bindText(3, value).bindText(4, id).run();
}

constexpr const char* kDocumentColumns = "id, version, body, index_data, created_ms, updated_ms";

store::Document readDocument(const Statement& row) {
  store::Document d;
  d.id = row.text(0);
  d.version = static_cast<std::uint64_t>(row.integer(1));
  d.body = row.blob(2);
  d.index = decodeIndex(row.blob(3));
  d.createdAtMs = row.integer(4);
  d.updatedAtMs = row.integer(5);
  return d;
}

#define HIVE_ITEM_COLUMNS                                                                              \
  "queue, id, payload, priority, not_before_ms, enqueued_ms, idempotency_key, attempts, lease_token, " \
  "claimant, lease_expires_ms, last_error, seq"

store::QueueItem readItem(const Statement& row) {
  store::QueueItem item;
  item.queue = row.text(0);
  item.id = row.text(1);
  item.payload = row.blob(2);
  item.priority = static_cast<int>(row.integer(3));
  item.notBeforeMs = row.integer(4);
  item.enqueuedAtMs = row.integer(5);
  item.idempotencyKey = row.text(6);
  item.attempts = static_cast<std::uint32_t>(row.integer(7));
  item.leaseToken = row.text(8);
  item.claimant = row.text(9);
  item.leaseExpiresMs = row.isNull(8) ? 0 : row.integer(10);
  item.lastError = row.text(11);
  return item;
}

Status checkVersion(bool exists, std::uint64_t stored, std::uint64_t expected, const std::string& collection,
                    const std::string& id) {
  if (expected == store::kAnyVersion) return okStatus();
  std::uint64_t actual = exists ? stored : 0;
  if (actual == expected) return okStatus();
  return aborted(
      "version conflict on " + collection + "/" + quoted(id) + ": expected version " +
      (expected == store::kMustNotExist ? std::string("none (must not exist)") : std::to_string(expected)) +
      ", stored " + (exists ? std::to_string(stored) : std::string("none")));
}

Status checkLease(std::chrono::milliseconds lease) {
  if (lease.count() > 0 && lease <= kMaxLease) return okStatus();
  return invalidArgument("lease of " + std::to_string(lease.count()) + " ms must be between 1 ms and 24 h");
}

}  // namespace

std::string randomHex128() {
  unsigned char bytes[16];
  std::size_t filled = 0;
  while (filled < sizeof bytes) {
    ssize_t got = getrandom(bytes + filled, sizeof bytes - filled, 0);
    if (got > 0)
      filled += static_cast<std::size_t>(got);
    else if (errno != EINTR)
      std::abort();  // the kernel's CSPRNG is gone: nothing sane to do
  }
  return plugin_common::hexOf(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

// ---------------------------------------------------------------- documents

Result<std::set<std::string>> Operations::declaredFields(Connection& c, const std::string& collection) {
  auto select = HIVE_TRY(c.prepare("SELECT fields FROM collections WHERE name = ?1"));
  select.bindText(1, collection);
  std::set<std::string> fields;
  if (!HIVE_TRY(select.step())) return fields;
  std::string text = select.text(0);
  std::size_t start = 0;
  while (start < text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    if (comma > start) fields.insert(text.substr(start, comma - start));
    start = comma + 1;
  }
  return fields;
}

Status Operations::declareCollection(Connection& c, const store::CollectionSpec& spec) {
  HIVE_TRY(checkName(spec.name, "collection"));
  if (spec.indexedFields.size() > kMaxIndexFields)
    return invalidArgument("at most " + std::to_string(kMaxIndexFields) + " indexed fields per collection");
  for (const auto& field : spec.indexedFields) HIVE_TRY(checkFieldName(field));
  std::set<std::string> fields = HIVE_TRY(declaredFields(c, spec.name));
  std::size_t before = fields.size();
  bool known = before > 0;
  fields.insert(spec.indexedFields.begin(), spec.indexedFields.end());
  if (fields.size() > kMaxIndexFields)
    return invalidArgument("at most " + std::to_string(kMaxIndexFields) + " indexed fields per collection");
  if (known && fields.size() == before) return okStatus();
  std::string text;
  for (const auto& f : fields) text += (text.empty() ? "" : ",") + f;
  auto upsert = HIVE_TRY(c.prepare(
      "INSERT INTO collections (name, fields) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET fields = ?2"));
  return upsert.bindText(1, spec.name).bindText(2, text).run();
}

Result<store::Document> Operations::get(Connection& c, const std::string& collection, const std::string& id) {
  HIVE_TRY(checkName(collection, "collection"));
  HIVE_TRY(checkId(id, "document"));
  auto select = HIVE_TRY(c.prepare(std::string("SELECT ") + kDocumentColumns +
                                   " FROM documents WHERE collection = ?1 AND id = ?2"));
  select.bindText(1, collection).bindText(2, id);
  if (!HIVE_TRY(select.step())) return notFound("no document " + collection + "/" + quoted(id));
  return readDocument(select);
}

Result<store::Document> Operations::put(Connection& c, const std::string& collection,
                                        store::Document document, std::uint64_t expectedVersion,
                                        std::int64_t nowMs) {
  HIVE_TRY(checkName(collection, "collection"));
  HIVE_TRY(checkId(document.id, "document"));
  HIVE_TRY(checkSize("document body", document.body.size(), limits_.maxDocumentBytes));
  if (!document.index.empty()) {
    std::set<std::string> fields = HIVE_TRY(declaredFields(c, collection));
    for (const auto& [field, value] : document.index) {
      if (fields.count(field) == 0)
        return invalidArgument("index field " + quoted(field) + " is not declared for collection " +
                               collection);
      HIVE_TRY(checkSize("value of index field " + field, value.size(), kMaxIndexValueBytes));
    }
  }

  bool exists = false;
  std::uint64_t stored = 0;
  std::int64_t createdMs = nowMs;
  std::map<std::string, std::string> storedIndex;
  {
    auto select = HIVE_TRY(
        c.prepare("SELECT version, created_ms, index_data FROM documents WHERE collection = ?1 AND id = ?2"));
    select.bindText(1, collection).bindText(2, document.id);
    exists = HIVE_TRY(select.step());
    if (exists) {
      stored = static_cast<std::uint64_t>(select.integer(0));
      createdMs = select.integer(1);
      storedIndex = decodeIndex(select.blob(2));
    }
  }
  HIVE_TRY(checkVersion(exists, stored, expectedVersion, collection, document.id));

  document.version = exists ? stored + 1 : 1;
  document.createdAtMs = createdMs;
  document.updatedAtMs = std::max(nowMs, createdMs);
  {
    auto write =
        HIVE_TRY(c.prepare("INSERT OR REPLACE INTO documents (collection, id, version, body, index_data, "
                           "created_ms, updated_ms) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
    HIVE_TRY(write.bindText(1, collection)
                 .bindText(2, document.id)
                 .bind(3, static_cast<std::int64_t>(document.version))
                 .bindBlob(4, document.body)
                 .bindBlob(5, encodeIndex(document.index))
                 .bind(6, document.createdAtMs)
                 .bind(7, document.updatedAtMs)
                 .run());
  }
  // Only the entries that changed: a task changing status rewrote all five of
  // its index rows (and their by-id index) on every transition.
  for (const auto& [field, value] : storedIndex) {
    auto kept = document.index.find(field);
    if (kept != document.index.end() && kept->second == value) continue;
    HIVE_TRY(eraseIndexEntry(c, collection, field, value, document.id));
  }
  for (const auto& [field, value] : document.index) {
    auto was = storedIndex.find(field);
    if (was != storedIndex.end() && was->second == value) continue;
    auto insert = HIVE_TRY(
        c.prepare("INSERT INTO document_index (collection, field, value, id) VALUES (?1, ?2, ?3, ?4)"));
    HIVE_TRY(
        insert.bindText(1, collection).bindText(2, field).bindText(3, value).bindText(4, document.id).run());
  }
  return document;
}

Status Operations::remove(Connection& c, const std::string& collection, const std::string& id,
                          std::uint64_t expectedVersion, WriteEffects& effects) {
  HIVE_TRY(checkName(collection, "collection"));
  HIVE_TRY(checkId(id, "document"));
  std::uint64_t stored = 0;
  std::map<std::string, std::string> storedIndex;
  {
    auto select =
        HIVE_TRY(c.prepare("SELECT version, index_data FROM documents WHERE collection = ?1 AND id = ?2"));
    select.bindText(1, collection).bindText(2, id);
    if (!HIVE_TRY(select.step())) return notFound("no document " + collection + "/" + quoted(id));
    stored = static_cast<std::uint64_t>(select.integer(0));
    storedIndex = decodeIndex(select.blob(1));
  }
  HIVE_TRY(checkVersion(true, stored, expectedVersion, collection, id));
  auto erase = HIVE_TRY(c.prepare("DELETE FROM documents WHERE collection = ?1 AND id = ?2"));
  HIVE_TRY(erase.bindText(1, collection).bindText(2, id).run());
  for (const auto& [field, value] : storedIndex) HIVE_TRY(eraseIndexEntry(c, collection, field, value, id));
  effects.freedPages = true;
  return okStatus();
}

Result<store::Page> Operations::list(Connection& c, const store::ListQuery& query) {
  HIVE_TRY(checkName(query.collection, "collection"));
  if (query.limit < 1 || query.limit > 1000)
    return invalidArgument("list limit " + std::to_string(query.limit) + " must be between 1 and 1000");
  std::string after;
  if (!query.cursor.empty()) after = HIVE_TRY(parseCursor(query.collection, query.cursor));
  if (!query.equals.empty()) {
    std::set<std::string> fields = HIVE_TRY(declaredFields(c, query.collection));
    for (const auto& [field, value] : query.equals) {
      if (fields.count(field) == 0)
        return invalidArgument("index field " + quoted(field) + " is not declared for collection " +
                               query.collection);
      HIVE_TRY(checkSize("value of index field " + field, value.size(), kMaxIndexValueBytes));
    }
  }

  // The SQL depends only on the number of filters, so the statement cache stays small.
  std::string sql =
      std::string("SELECT ") + kDocumentColumns + " FROM documents d WHERE d.collection = ?1 AND d.id > ?2";
  int parameter = 3;
  for (std::size_t i = 0; i < query.equals.size(); ++i, parameter += 2) {
    sql += " AND EXISTS (SELECT 1 FROM document_index x WHERE x.collection = ?1 AND x.field = ?" +
           std::to_string(parameter) + " AND x.value = ?" + std::to_string(parameter + 1) +
           " AND x.id = d.id)";
  }
  sql += " ORDER BY d.id LIMIT ?" + std::to_string(parameter);
  auto select = HIVE_TRY(c.prepare(sql));
  select.bindText(1, query.collection).bindText(2, after);
  parameter = 3;
  for (const auto& [field, value] : query.equals) {
    select.bindText(parameter, field).bindText(parameter + 1, value);
    parameter += 2;
  }
  select.bind(parameter, static_cast<std::int64_t>(query.limit) + 1);

  store::Page page;
  while (HIVE_TRY(select.step())) {
    if (page.items.size() == query.limit) {
      page.nextCursor = makeCursor(query.collection, page.items.back().id);
      break;
    }
    page.items.push_back(readDocument(select));
  }
  return page;
}

// ---------------------------------------------------------------- queue

Result<store::QueueItem> Operations::findItem(Connection& c, const std::string& queue,
                                              const std::string& itemId) {
  auto select =
      HIVE_TRY(c.prepare("SELECT " HIVE_ITEM_COLUMNS " FROM queue_items WHERE queue = ?1 AND id = ?2"));
  select.bindText(1, queue).bindText(2, itemId);
  if (!HIVE_TRY(select.step())) return notFound("no item " + quoted(itemId) + " in queue " + queue);
  return readItem(select);
}

Result<store::QueueItem> Operations::leasedItem(Connection& c, const std::string& queue,
                                                const std::string& itemId, const std::string& leaseToken) {
  HIVE_TRY(checkName(queue, "queue"));
  HIVE_TRY(checkId(itemId, "item"));
  store::QueueItem item = HIVE_TRY(findItem(c, queue, itemId));
  if (leaseToken.empty() || item.leaseToken != leaseToken)
    return failedPrecondition("stale lease on item " + quoted(itemId) + " of queue " + queue +
                              ": the token is not the item's current one");
  return item;
}

Result<store::QueueItem> Operations::enqueue(Connection& c, store::EnqueueRequest request, std::int64_t nowMs,
                                             WriteEffects& effects) {
  HIVE_TRY(checkName(request.queue, "queue"));
  if (request.priority < 1 || request.priority > 10)
    return invalidArgument("priority " + std::to_string(request.priority) + " must be between 1 and 10");
  HIVE_TRY(checkSize("payload", request.payload.size(), limits_.maxPayloadBytes));
  HIVE_TRY(checkSize("idempotency key", request.idempotencyKey.size(), kMaxKeyBytes));
  if (request.notBeforeMs < 0) return invalidArgument("notBeforeMs must not be negative");
  if (!request.id.empty()) HIVE_TRY(checkId(request.id, "item"));

  if (!request.idempotencyKey.empty()) {
    auto select = HIVE_TRY(
        c.prepare("SELECT " HIVE_ITEM_COLUMNS " FROM queue_items WHERE queue = ?1 AND idempotency_key = ?2"));
    select.bindText(1, request.queue).bindText(2, request.idempotencyKey);
    if (HIVE_TRY(select.step())) return readItem(select);
  }
  if (request.id.empty()) {
    request.id = randomHex128();
  } else {
    auto exists = findItem(c, request.queue, request.id);
    if (exists.ok())
      return alreadyExists("item " + quoted(request.id) + " already in queue " + request.queue);
    if (exists.status().code() != StatusCode::kNotFound) return exists.status();
  }

  store::QueueItem item;
  item.queue = std::move(request.queue);
  item.id = std::move(request.id);
  item.payload = std::move(request.payload);
  item.priority = request.priority;
  item.notBeforeMs = request.notBeforeMs;
  item.enqueuedAtMs = nowMs;
  item.idempotencyKey = std::move(request.idempotencyKey);
  auto insert = HIVE_TRY(c.prepare(
      "INSERT INTO queue_items (queue, id, payload, priority, not_before_ms, enqueued_ms, idempotency_key) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  HIVE_TRY(insert.bindText(1, item.queue)
               .bindText(2, item.id)
               .bindBlob(3, item.payload)
               .bind(4, item.priority)
               .bind(5, item.notBeforeMs)
               .bind(6, item.enqueuedAtMs)
               .bindOptionalText(7, item.idempotencyKey)
               .run());
  if (item.notBeforeMs <= nowMs)
    effects.claimable.insert(item.queue);
  else
    effects.at(item.queue, item.notBeforeMs);
  return item;
}

Result<std::vector<store::QueueItem>> Operations::claim(Connection& c, const store::ClaimRequest& request,
                                                        std::int64_t nowMs, WriteEffects& effects) {
  HIVE_TRY(checkName(request.queue, "queue"));
  HIVE_TRY(checkLease(request.lease));
  HIVE_TRY(checkSize("claimant", request.claimant.size(), kMaxKeyBytes));
  if (request.maxItems < 1 || request.maxItems > 1000)
    return invalidArgument("maxItems " + std::to_string(request.maxItems) + " must be between 1 and 1000");
  if (request.minPriority < 1 || request.minPriority > 10)
    return invalidArgument("minPriority " + std::to_string(request.minPriority) +
                           " must be between 1 and 10");

  std::vector<std::pair<std::int64_t, store::QueueItem>> found;
  {
    auto select = HIVE_TRY(c.prepare(
        "SELECT " HIVE_ITEM_COLUMNS
        " FROM queue_items WHERE queue = ?1 AND priority >= ?2 AND not_before_ms <= ?3"
        " AND (lease_token IS NULL OR lease_expires_ms <= ?3) ORDER BY priority DESC, seq LIMIT ?4"));
    select.bindText(1, request.queue)
        .bind(2, request.minPriority)
        .bind(3, nowMs)
        .bind(4, static_cast<std::int64_t>(request.maxItems));
    while (HIVE_TRY(select.step())) found.emplace_back(select.integer(12), readItem(select));
  }
  std::vector<store::QueueItem> claimed;
  std::int64_t expires = nowMs + request.lease.count();
  for (auto& [seq, item] : found) {
    item.attempts += 1;
    item.leaseToken = randomHex128();
    item.claimant = request.claimant;
    item.leaseExpiresMs = expires;
    auto update =
        HIVE_TRY(c.prepare("UPDATE queue_items SET attempts = ?1, lease_token = ?2, claimant = ?3, "
                           "lease_expires_ms = ?4 WHERE seq = ?5"));
    HIVE_TRY(update.bind(1, item.attempts)
                 .bindText(2, item.leaseToken)
                 .bindText(3, item.claimant)
                 .bind(4, expires)
                 .bind(5, seq)
                 .run());
    claimed.push_back(std::move(item));
  }
  if (!claimed.empty()) effects.at(request.queue, expires);
  return claimed;
}

Result<store::QueueItem> Operations::extend(Connection& c, const std::string& queue,
                                            const std::string& itemId, const std::string& leaseToken,
                                            std::chrono::milliseconds lease, std::int64_t nowMs,
                                            WriteEffects& effects) {
  HIVE_TRY(checkLease(lease));
  store::QueueItem item = HIVE_TRY(leasedItem(c, queue, itemId, leaseToken));
  item.leaseExpiresMs = nowMs + lease.count();
  auto update =
      HIVE_TRY(c.prepare("UPDATE queue_items SET lease_expires_ms = ?1 WHERE queue = ?2 AND id = ?3"));
  HIVE_TRY(update.bind(1, item.leaseExpiresMs).bindText(2, queue).bindText(3, itemId).run());
  effects.at(queue, item.leaseExpiresMs);
  return item;
}

Status Operations::complete(Connection& c, const std::string& queue, const std::string& itemId,
                            const std::string& leaseToken) {
  HIVE_TRY(leasedItem(c, queue, itemId, leaseToken));
  auto erase = HIVE_TRY(c.prepare("DELETE FROM queue_items WHERE queue = ?1 AND id = ?2"));
  return erase.bindText(1, queue).bindText(2, itemId).run();
}

Status Operations::fail(Connection& c, const std::string& queue, const std::string& itemId,
                        const std::string& leaseToken, std::chrono::milliseconds retryAfter,
                        const std::string& error, std::int64_t nowMs, WriteEffects& effects) {
  if (retryAfter.count() < 0) return invalidArgument("retryAfter must not be negative");
  if (retryAfter > std::chrono::hours(24 * 365)) return invalidArgument("retryAfter must be at most a year");
  HIVE_TRY(leasedItem(c, queue, itemId, leaseToken));
  std::int64_t notBefore = nowMs + retryAfter.count();
  auto update =
      HIVE_TRY(c.prepare("UPDATE queue_items SET lease_token = NULL, claimant = NULL, lease_expires_ms = 0, "
                         "not_before_ms = ?1, last_error = ?2 WHERE queue = ?3 AND id = ?4"));
  HIVE_TRY(update.bind(1, notBefore)
               .bindText(2, std::string_view(error).substr(0, kMaxErrorBytes))
               .bindText(3, queue)
               .bindText(4, itemId)
               .run());
  if (notBefore <= nowMs)
    effects.claimable.insert(queue);
  else
    effects.at(queue, notBefore);
  return okStatus();
}

Status Operations::cancel(Connection& c, const std::string& queue, const std::string& itemId) {
  HIVE_TRY(checkName(queue, "queue"));
  HIVE_TRY(checkId(itemId, "item"));
  auto erase = HIVE_TRY(c.prepare("DELETE FROM queue_items WHERE queue = ?1 AND id = ?2"));
  HIVE_TRY(erase.bindText(1, queue).bindText(2, itemId).run());
  if (erase.changes() == 0) return notFound("no item " + quoted(itemId) + " in queue " + queue);
  return okStatus();
}

Result<std::vector<store::QueueItem>> Operations::releaseExpired(Connection& c, const std::string& queue,
                                                                 std::int64_t nowMs, WriteEffects& effects) {
  HIVE_TRY(checkName(queue, "queue"));
  std::vector<std::pair<std::int64_t, store::QueueItem>> expired;
  {
    auto select = HIVE_TRY(c.prepare("SELECT " HIVE_ITEM_COLUMNS
                                     " FROM queue_items WHERE queue = ?1 AND lease_token IS NOT NULL"
                                     " AND lease_expires_ms <= ?2 ORDER BY seq LIMIT ?3"));
    select.bindText(1, queue).bind(2, nowMs).bind(3, static_cast<std::int64_t>(kMaxReleased));
    while (HIVE_TRY(select.step())) expired.emplace_back(select.integer(12), readItem(select));
  }
  std::vector<store::QueueItem> released;
  for (auto& [seq, item] : expired) {
    auto update = HIVE_TRY(c.prepare(
        "UPDATE queue_items SET lease_token = NULL, claimant = NULL, lease_expires_ms = 0 WHERE seq = ?1"));
    HIVE_TRY(update.bind(1, seq).run());
    released.push_back(std::move(item));
  }
  if (!released.empty()) effects.claimable.insert(queue);
  return released;
}

Result<store::QueueItem> Operations::peek(Connection& c, const std::string& queue,
                                          const std::string& itemId) {
  HIVE_TRY(checkName(queue, "queue"));
  HIVE_TRY(checkId(itemId, "item"));
  return findItem(c, queue, itemId);
}

Result<std::map<int, std::uint64_t>> Operations::depth(Connection& c, const std::string& queue,
                                                       std::int64_t nowMs) {
  HIVE_TRY(checkName(queue, "queue"));
  auto select =
      HIVE_TRY(c.prepare("SELECT priority, count(*) FROM queue_items WHERE queue = ?1"
                         " AND (lease_token IS NULL OR lease_expires_ms <= ?2) GROUP BY priority"));
  select.bindText(1, queue).bind(2, nowMs);
  std::map<int, std::uint64_t> depth;
  while (HIVE_TRY(select.step()))
    depth[static_cast<int>(select.integer(0))] = static_cast<std::uint64_t>(select.integer(1));
  return depth;
}

Result<std::int64_t> Operations::nextClaimableAt(Connection& c, const std::string& queue,
                                                 std::int64_t nowMs) {
  HIVE_TRY(checkName(queue, "queue"));
  auto select = HIVE_TRY(
      c.prepare("SELECT min(CASE WHEN lease_token IS NULL THEN not_before_ms ELSE max(not_before_ms, "
                "lease_expires_ms) END)"
                " FROM queue_items WHERE queue = ?1 AND (not_before_ms > ?2 OR (lease_token IS NOT NULL AND"
                " lease_expires_ms > ?2))"));
  select.bindText(1, queue).bind(2, nowMs);
  if (!HIVE_TRY(select.step()) || select.isNull(0)) return std::int64_t{0};
  return select.integer(0);
}

Result<std::uint64_t> Operations::count(Connection& c, const std::string& queue) {
  HIVE_TRY(checkName(queue, "queue"));
  auto select = HIVE_TRY(c.prepare("SELECT count(*) FROM queue_items WHERE queue = ?1"));
  select.bindText(1, queue);
  HIVE_TRY(select.step());
  return static_cast<std::uint64_t>(select.integer(0));
}

// ---------------------------------------------------------------- events

Result<std::uint64_t> Operations::append(Connection& c, const std::string& stream, const std::string& type,
                                         const std::string& body, std::int64_t nowMs) {
  HIVE_TRY(checkName(stream, "stream"));
  HIVE_TRY(checkSize("event type", type.size(), kMaxTypeBytes));
  HIVE_TRY(checkSize("event body", body.size(), limits_.maxDocumentBytes));
  std::int64_t id = 0;
  {
    auto last = HIVE_TRY(c.prepare("SELECT coalesce(max(id), 0) FROM events WHERE stream = ?1"));
    last.bindText(1, stream);
    HIVE_TRY(last.step());
    id = last.integer(0) + 1;
  }
  if (id == 1) {
    // No event left: the stream may have been trimmed empty, and its ids go on
    // from the last one it gave (stream_trims is read only then, off the hot path).
    auto trimmed = HIVE_TRY(c.prepare("SELECT last_id FROM stream_trims WHERE stream = ?1"));
    trimmed.bindText(1, stream);
    if (HIVE_TRY(trimmed.step())) id = trimmed.integer(0) + 1;
  }
  auto insert = HIVE_TRY(
      c.prepare("INSERT INTO events (stream, id, type, body, timestamp_ms) VALUES (?1, ?2, ?3, ?4, ?5)"));
  HIVE_TRY(insert.bindText(1, stream).bind(2, id).bindText(3, type).bindBlob(4, body).bind(5, nowMs).run());
  return static_cast<std::uint64_t>(id);
}

Result<std::vector<store::Event>> Operations::read(Connection& c, const std::string& stream,
                                                   std::uint64_t afterId, std::size_t limit) {
  HIVE_TRY(checkName(stream, "stream"));
  if (limit < 1 || limit > 10000)
    return invalidArgument("read limit " + std::to_string(limit) + " must be between 1 and 10000");
  if (afterId > static_cast<std::uint64_t>(INT64_MAX)) return std::vector<store::Event>{};
  auto select = HIVE_TRY(c.prepare(
      "SELECT id, type, body, timestamp_ms FROM events WHERE stream = ?1 AND id > ?2 ORDER BY id LIMIT ?3"));
  select.bindText(1, stream)
      .bind(2, static_cast<std::int64_t>(afterId))
      .bind(3, static_cast<std::int64_t>(limit));
  std::vector<store::Event> events;
  while (HIVE_TRY(select.step())) {
    store::Event e;
    e.stream = stream;
    e.id = static_cast<std::uint64_t>(select.integer(0));
    e.type = select.text(1);
    e.body = select.blob(2);
    e.timestampMs = select.integer(3);
    events.push_back(std::move(e));
  }
  return events;
}

Result<std::uint64_t> Operations::trim(Connection& c, const std::string& stream, std::int64_t beforeMs,
                                       std::size_t limit, WriteEffects& effects) {
  HIVE_TRY(checkName(stream, "stream"));
  if (limit < 1 || limit > 10000)
    return invalidArgument("trim limit " + std::to_string(limit) + " must be between 1 and 10000");
  // Walks the oldest `limit` events and stops at the first one too young, so
  // that only a prefix of the stream goes even if the clock stepped back.
  std::int64_t through = 0;
  std::uint64_t count = 0;
  {
    auto select =
        HIVE_TRY(c.prepare("SELECT id, timestamp_ms FROM events WHERE stream = ?1 ORDER BY id LIMIT ?2"));
    select.bindText(1, stream).bind(2, static_cast<std::int64_t>(limit));
    while (HIVE_TRY(select.step())) {
      if (select.integer(1) >= beforeMs) break;
      through = select.integer(0);
      ++count;
    }
  }
  if (count == 0) return std::uint64_t{0};
  auto erase = HIVE_TRY(c.prepare("DELETE FROM events WHERE stream = ?1 AND id <= ?2"));
  HIVE_TRY(erase.bindText(1, stream).bind(2, through).run());
  auto record =
      HIVE_TRY(c.prepare("INSERT INTO stream_trims (stream, last_id) VALUES (?1, ?2) "
                         "ON CONFLICT (stream) DO UPDATE SET last_id = max(last_id, ?2)"));
  HIVE_TRY(record.bindText(1, stream).bind(2, through).run());
  effects.freedPages = true;
  return count;
}

Result<std::uint64_t> Operations::eraseEvents(Connection& c, const std::string& stream,
                                              const std::vector<std::uint64_t>& ids) {
  HIVE_TRY(checkName(stream, "stream"));
  if (ids.size() > 10000)
    return invalidArgument("at most 10000 events are erased at once, got " + std::to_string(ids.size()));
  // Tombstones: the id and timestamp stay, so that ids are never reused and readers' cursors hold.
  std::uint64_t erased = 0;
  for (std::uint64_t id : ids) {
    if (id > static_cast<std::uint64_t>(INT64_MAX)) continue;
    auto erase =
        HIVE_TRY(c.prepare("UPDATE events SET type = 'erased', body = CAST('{}' AS BLOB) "
                           "WHERE stream = ?1 AND id = ?2 AND type <> 'erased'"));
    HIVE_TRY(erase.bindText(1, stream).bind(2, static_cast<std::int64_t>(id)).run());
    erased += static_cast<std::uint64_t>(erase.changes());
  }
  return erased;
}

// ---------------------------------------------------------------- counters

Status Operations::addToCounter(Connection& c, const std::string& name, std::int64_t delta) {
  HIVE_TRY(checkName(name, "counter"));
  std::int64_t value = 0;
  {
    auto select = HIVE_TRY(c.prepare("SELECT value FROM counters WHERE name = ?1"));
    select.bindText(1, name);
    if (HIVE_TRY(select.step())) value = select.integer(0);
  }
  // SQLite would turn an overflowing integer sum into a REAL: check it here.
  std::int64_t sum = 0;
  if (__builtin_add_overflow(value, delta, &sum))
    return Status(StatusCode::kOutOfRange, "counter " + name + " at " + std::to_string(value) + " plus " +
                                               std::to_string(delta) + " leaves the signed 64-bit range");
  auto upsert = HIVE_TRY(c.prepare(
      "INSERT INTO counters (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = ?2"));
  return upsert.bindText(1, name).bind(2, sum).run();
}

Result<std::map<std::string, std::int64_t>> Operations::counters(Connection& c, const std::string& prefix) {
  if (!prefix.empty()) {
    // A prefix of a valid name is itself a valid name (the rule has no minimum
    // past the first character), so the name check covers it.
    HIVE_TRY(checkName(prefix, "counter prefix"));
  }
  // Names use only [a-z0-9_.-], all below 0x7f: [prefix, prefix + 0x7f) is
  // exactly the names that start with it, and the primary key serves the range.
  auto select = HIVE_TRY(
      c.prepare("SELECT name, value FROM counters WHERE name >= ?1 AND name < ?2 ORDER BY name LIMIT ?3"));
  select.bindText(1, prefix)
      .bindText(2, prefix + '\x7f')
      .bind(3, static_cast<std::int64_t>(kMaxCounters) + 1);
  std::map<std::string, std::int64_t> out;
  while (HIVE_TRY(select.step())) {
    if (out.size() == kMaxCounters)
      return Status(StatusCode::kOutOfRange, "more than " + std::to_string(kMaxCounters) +
                                                 " counters start with " + quoted(prefix) +
                                                 ": narrow the prefix");
    out.emplace(select.text(0), select.integer(1));
  }
  return out;
}

}  // namespace hive::storage_sqlite
