#include "operations.hpp"

#include <algorithm>
#include <cstdio>
#include <random>

#include <pqxx/binarystring>
#include <pqxx/result>

#include "json_index.hpp"
#include "plugin_common/hex.hpp"
#include "statements.hpp"

namespace hive::storage_postgres {
namespace {

namespace sql = statement;

pqxx::binarystring bytes(const std::string& text) { return pqxx::binarystring(text.data(), text.size()); }

std::string bytesOf(const pqxx::field& field) {
  if (field.is_null()) return {};
  return pqxx::binarystring(field).str();
}

std::string textOf(const pqxx::field& field) { return field.is_null() ? std::string() : field.c_str(); }

store::QueueItem itemFromRow(const pqxx::row& row) {
  store::QueueItem item;
  item.queue = textOf(row[0]);
  item.id = textOf(row[1]);
  item.payload = bytesOf(row[2]);
  item.priority = row[3].as<int>();
  item.notBeforeMs = row[4].as<std::int64_t>();
  item.enqueuedAtMs = row[5].as<std::int64_t>();
  item.idempotencyKey = bytesOf(row[6]);
  item.attempts = static_cast<std::uint32_t>(row[7].as<std::int64_t>());
  item.leaseToken = textOf(row[8]);
  item.claimant = bytesOf(row[9]);
  item.leaseExpiresMs = item.leaseToken.empty() ? 0 : row[10].as<std::int64_t>();
  item.lastError = bytesOf(row[11]);
  return item;
}

Result<store::Document> documentFromRow(const pqxx::row& row) {
  store::Document document;
  document.id = textOf(row[0]);
  document.version = static_cast<std::uint64_t>(row[1].as<std::int64_t>());
  document.body = bytesOf(row[2]);
  auto index = indexFromJson(textOf(row[3]));
  if (!index) return internalError("document '" + document.id + "' has a malformed index column");
  document.index = std::move(*index);
  document.createdAtMs = row[4].as<std::int64_t>();
  document.updatedAtMs = row[5].as<std::int64_t>();
  return document;
}

// Cursors carry the last id of the page and a checksum of the query they belong
// to, so that a cursor this store did not issue (or one of another query) is refused.
std::uint64_t fnv1a(std::uint64_t hash, const std::string& text) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash ^ 0xff;  // separates consecutive fields
}

std::uint64_t cursorChecksum(const store::ListQuery& query, const std::string& lastId) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  hash = fnv1a(hash, "hive.store.pg.cursor.v1");
  hash = fnv1a(hash, query.collection);
  for (const auto& [field, value] : query.equals) hash = fnv1a(fnv1a(hash, field), value);
  return fnv1a(hash, lastId);
}

std::string toHex(const std::string& text) { return plugin_common::hexOf(text); }

std::string makeCursor(const store::ListQuery& query, const std::string& lastId) {
  char checksum[17];
  std::snprintf(checksum, sizeof checksum, "%016llx",
                static_cast<unsigned long long>(cursorChecksum(query, lastId)));
  return "pg1." + toHex(lastId) + "." + checksum;
}

Result<std::string> parseCursor(const store::ListQuery& query) {
  const std::string& cursor = query.cursor;
  auto bad = [] { return invalidArgument("cursor was not issued by this store for this query"); };
  if (cursor.size() > 300 || cursor.rfind("pg1.", 0) != 0) return bad();
  std::size_t dot = cursor.find('.', 4);
  if (dot == std::string::npos) return bad();
  auto lastId = plugin_common::bytesOfHex(cursor.substr(4, dot - 4));
  if (!lastId || !checkId(*lastId, "cursor").ok()) return bad();
  char checksum[17];
  std::snprintf(checksum, sizeof checksum, "%016llx",
                static_cast<unsigned long long>(cursorChecksum(query, *lastId)));
  if (cursor.substr(dot + 1) != checksum) return bad();
  return *lastId;
}

std::set<std::string> splitFields(const std::string& joined) {
  std::set<std::string> out;
  std::size_t start = 0;
  while (start < joined.size()) {
    std::size_t comma = joined.find(',', start);
    if (comma == std::string::npos) comma = joined.size();
    if (comma > start) out.insert(joined.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace

// ---- CollectionCache

std::set<std::string> CollectionCache::fields(pqxx::transaction_base& tx, const std::string& collection,
                                              bool refresh) {
  if (!refresh) {
    std::lock_guard lock(mutex_);
    auto found = fields_.find(collection);
    if (found != fields_.end()) return found->second;
  }
  auto result = tx.exec_prepared(sql::kCollectionGet, collection);
  if (result.empty()) return {};  // undeclared collections are not cached: they may be declared later
  auto fields = splitFields(textOf(result[0][0]));
  remember(collection, fields);
  return fields;
}

void CollectionCache::remember(const std::string& collection, std::set<std::string> fields) {
  std::lock_guard lock(mutex_);
  if (fields_.size() > 10'000) fields_.clear();  // bounded; it refills from the database
  fields_[collection] = std::move(fields);
}

// ---- documents

Status Operations::declareCollection(pqxx::transaction_base& tx, const store::CollectionSpec& spec) {
  HIVE_TRY(checkName(spec.name, "collection"));
  if (spec.indexedFields.size() > 64) return invalidArgument("at most 64 indexed fields per collection");
  std::string joined;
  for (const auto& field : spec.indexedFields) {
    HIVE_TRY(checkFieldName(field));
    if (!joined.empty()) joined.push_back(',');
    joined += field;
  }
  auto result = tx.exec_prepared(sql::kCollectionDeclare, spec.name, joined);
  collections_.remember(spec.name, splitFields(textOf(result[0][0])));
  return okStatus();
}

Status Operations::checkIndex(pqxx::transaction_base& tx, const std::string& collection,
                              const std::map<std::string, std::string>& index) {
  if (index.empty()) return okStatus();
  for (const auto& [field, value] : index) {
    HIVE_TRY(checkFieldName(field));
    HIVE_TRY(checkIndexValue(field, value));
  }
  auto declared = collections_.fields(tx, collection, false);
  auto allDeclared = [&] {
    return std::all_of(index.begin(), index.end(),
                       [&](const auto& entry) { return declared.count(entry.first); });
  };
  if (!allDeclared()) declared = collections_.fields(tx, collection, true);
  for (const auto& [field, value] : index)
    if (declared.count(field) == 0)
      return invalidArgument("field '" + field + "' is not an indexed field of collection '" + collection +
                             "'");
  return okStatus();
}

Result<store::Document> Operations::get(pqxx::transaction_base& tx, const std::string& collection,
                                        const std::string& id) {
  HIVE_TRY(checkName(collection, "collection"));
  HIVE_TRY(checkId(id, "document"));
  auto result = tx.exec_prepared(sql::kDocGet, collection, id);
  if (result.empty()) return notFound("document '" + id + "' not found in '" + collection + "'");
  return documentFromRow(result[0]);
}

Result<store::Document> Operations::put(pqxx::transaction_base& tx, const std::string& collection,
                                        store::Document document, std::uint64_t expectedVersion) {
  HIVE_TRY(checkName(collection, "collection"));
  HIVE_TRY(checkId(document.id, "document"));
  if (document.body.size() > limits_.maxDocumentBytes)
    return invalidArgument("document body is " + std::to_string(document.body.size()) + " bytes, at most " +
                           std::to_string(limits_.maxDocumentBytes) + " allowed (max_document_bytes)");
  if (expectedVersion != store::kAnyVersion && expectedVersion > static_cast<std::uint64_t>(INT64_MAX))
    return invalidArgument("expected version out of range");
  HIVE_TRY(checkIndex(tx, collection, document.index));
  std::string index = indexToJson(document.index);
  pqxx::result result;
  if (expectedVersion == store::kMustNotExist)
    result = tx.exec_prepared(sql::kDocCreate, collection, document.id, bytes(document.body), index);
  else if (expectedVersion == store::kAnyVersion)
    result = tx.exec_prepared(sql::kDocUpsert, collection, document.id, bytes(document.body), index);
  else
    result = tx.exec_prepared(sql::kDocUpdate, collection, document.id, bytes(document.body), index,
                              static_cast<std::int64_t>(expectedVersion));
  if (result.empty()) {
    std::string expected = expectedVersion == store::kMustNotExist
                               ? std::string("no document")
                               : "version " + std::to_string(expectedVersion);
    return aborted("version conflict: '" + collection + "/" + document.id + "' is not at " + expected);
  }
  document.version = static_cast<std::uint64_t>(result[0][0].as<std::int64_t>());
  document.createdAtMs = result[0][1].as<std::int64_t>();
  document.updatedAtMs = result[0][2].as<std::int64_t>();
  return document;
}

Status Operations::remove(pqxx::transaction_base& tx, const std::string& collection, const std::string& id,
                          std::uint64_t expectedVersion) {
  HIVE_TRY(checkName(collection, "collection"));
  HIVE_TRY(checkId(id, "document"));
  if (expectedVersion == store::kAnyVersion) {
    auto result = tx.exec_prepared(sql::kDocDelete, collection, id);
    if (result.empty()) return notFound("document '" + id + "' not found in '" + collection + "'");
    return okStatus();
  }
  if (expectedVersion <= static_cast<std::uint64_t>(INT64_MAX)) {
    auto result =
        tx.exec_prepared(sql::kDocDeleteVersion, collection, id, static_cast<std::int64_t>(expectedVersion));
    if (!result.empty()) return okStatus();
  }
  auto existing = tx.exec_prepared(sql::kDocGet, collection, id);
  if (existing.empty()) return notFound("document '" + id + "' not found in '" + collection + "'");
  return aborted("version conflict: '" + collection + "/" + id + "' is at version " + textOf(existing[0][1]) +
                 ", not " + std::to_string(expectedVersion));
}

Result<store::Page> Operations::list(pqxx::transaction_base& tx, const store::ListQuery& query) {
  HIVE_TRY(checkName(query.collection, "collection"));
  if (query.limit < 1 || query.limit > 1000)
    return invalidArgument("limit must be 1..1000, got " + std::to_string(query.limit));
  std::string after;
  if (!query.cursor.empty()) after = HIVE_TRY(parseCursor(query));
  HIVE_TRY(checkIndex(tx, query.collection, query.equals));
  auto result = tx.exec_prepared(sql::kDocList, query.collection, after, indexToJson(query.equals),
                                 static_cast<std::int64_t>(query.limit) + 1);
  store::Page page;
  std::size_t rows = std::min<std::size_t>(result.size(), query.limit);
  page.items.reserve(rows);
  for (std::size_t i = 0; i < rows; ++i)
    page.items.push_back(HIVE_TRY(documentFromRow(result[static_cast<int>(i)])));
  if (result.size() > query.limit) page.nextCursor = makeCursor(query, page.items.back().id);
  return page;
}

// ---- queue

Result<store::QueueItem> Operations::enqueue(pqxx::transaction_base& tx, const store::EnqueueRequest& request,
                                             Wakeups& wakeups) {
  HIVE_TRY(checkEnqueue(request, limits_));
  auto result = tx.exec_prepared(sql::kEnqueue, request.queue, request.id, bytes(request.payload),
                                 request.priority, request.notBeforeMs, bytes(request.idempotencyKey));
  if (result.empty()) {
    if (!request.idempotencyKey.empty()) {
      auto first = tx.exec_prepared(sql::kByKey, request.queue, bytes(request.idempotencyKey));
      if (!first.empty()) return itemFromRow(first[0]);
    }
    return alreadyExists("item '" + request.id + "' already exists in queue '" + request.queue + "'");
  }
  store::QueueItem item = itemFromRow(result[0]);
  wakeups.emplace(item.queue, item.notBeforeMs > item.enqueuedAtMs ? item.notBeforeMs : 0);
  return item;
}

namespace {

// A random RFC 4122 version 4 id, like the server's gen_random_uuid().
std::string randomUuid() {
  thread_local std::mt19937_64 generator(std::random_device{}());
  std::uint64_t high = generator(), low = generator();
  high = (high & ~0xF000ULL) | 0x4000ULL;
  low = (low & ~(0x3ULL << 62)) | (0x2ULL << 62);
  char text[37];
  std::snprintf(
      text, sizeof text, "%08llx-%04llx-%04llx-%04llx-%012llx", static_cast<unsigned long long>(high >> 32),
      static_cast<unsigned long long>((high >> 16) & 0xFFFF), static_cast<unsigned long long>(high & 0xFFFF),
      static_cast<unsigned long long>(low >> 48), static_cast<unsigned long long>(low & 0xFFFFFFFFFFFFULL));
  return text;
}

// One element of a text[] literal: quoted, with " and \ escaped.
void appendTextElement(std::string& out, const std::string& text) {
  out.push_back('"');
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

// One element of a bytea[] literal: "\\x<hex>" (the array parser eats one backslash).
void appendByteaElement(std::string& out, const std::string& bytes) {
  out += "\"\\\\x";
  plugin_common::appendHex(out, bytes);
  out.push_back('"');
}

}  // namespace

std::vector<std::optional<store::QueueItem>> Operations::enqueueMany(
    pqxx::transaction_base& tx, const std::vector<const store::EnqueueRequest*>& requests, Wakeups& wakeups) {
  std::vector<std::string> ids;
  ids.reserve(requests.size());
  std::string queues = "{", idList = "{", payloads = "{", priorities = "{", notBefore = "{", keys = "{";
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const store::EnqueueRequest& request = *requests[i];
    ids.push_back(request.id.empty() ? randomUuid() : request.id);
    const char* separator = i == 0 ? "" : ",";
    queues += separator;
    appendTextElement(queues, request.queue);
    idList += separator;
    appendTextElement(idList, ids.back());
    payloads += separator;
    appendByteaElement(payloads, request.payload);
    priorities += separator;
    priorities += std::to_string(request.priority);
    notBefore += separator;
    notBefore += std::to_string(request.notBeforeMs);
    keys += separator;
    appendByteaElement(keys, request.idempotencyKey);
  }
  for (std::string* list : {&queues, &idList, &payloads, &priorities, &notBefore, &keys})
    list->push_back('}');
  auto result = tx.exec_prepared(sql::kEnqueueMany, queues, idList, payloads, priorities, notBefore, keys);
  std::map<std::pair<std::string, std::string>, store::QueueItem> inserted;
  for (const auto& row : result) {
    store::QueueItem item = itemFromRow(row);
    inserted.emplace(std::make_pair(item.queue, item.id), std::move(item));
  }
  std::vector<std::optional<store::QueueItem>> out(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    auto found = inserted.find({requests[i]->queue, ids[i]});
    if (found == inserted.end()) continue;  // conflicted, or a second request for an id already taken
    store::QueueItem& item = found->second;
    wakeups.emplace(item.queue, item.notBeforeMs > item.enqueuedAtMs ? item.notBeforeMs : 0);
    out[i] = std::move(item);
    inserted.erase(found);
  }
  return out;
}

std::vector<bool> Operations::completeMany(pqxx::transaction_base& tx,
                                           const std::vector<std::array<const std::string*, 3>>& entries) {
  std::string lists[3];
  for (auto& list : lists) list = "{";
  for (std::size_t i = 0; i < entries.size(); ++i)
    for (int k = 0; k < 3; ++k) {
      if (i > 0) lists[k].push_back(',');
      appendTextElement(lists[k], *entries[i][k]);
    }
  for (auto& list : lists) list.push_back('}');
  auto result = tx.exec_prepared(sql::kCompleteMany, lists[0], lists[1], lists[2]);
  std::set<std::array<std::string, 3>> deleted;
  for (const auto& row : result) deleted.insert({textOf(row[0]), textOf(row[1]), textOf(row[2])});
  std::vector<bool> out(entries.size(), false);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    // erase: a second request for the same item was not the one that completed it
    out[i] = deleted.erase({*entries[i][0], *entries[i][1], *entries[i][2]}) != 0;
  }
  return out;
}

Result<std::vector<store::QueueItem>> Operations::claim(pqxx::transaction_base& tx,
                                                        const store::ClaimRequest& request) {
  HIVE_TRY(checkClaim(request));
  auto result = tx.exec_prepared(sql::kClaim, request.queue, request.minPriority,
                                 static_cast<std::int64_t>(request.maxItems), bytes(request.claimant),
                                 static_cast<std::int64_t>(request.lease.count()));
  std::vector<std::pair<std::pair<int, std::int64_t>, store::QueueItem>> ordered;
  ordered.reserve(result.size());
  for (const auto& row : result)
    ordered.push_back({{-row[3].as<int>(), row[12].as<std::int64_t>()}, itemFromRow(row)});
  std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<store::QueueItem> items;
  items.reserve(ordered.size());
  for (auto& entry : ordered) items.push_back(std::move(entry.second));
  return items;
}

Status Operations::itemMismatch(pqxx::transaction_base& tx, const std::string& queue,
                                const std::string& itemId) {
  auto existing = tx.exec_prepared(sql::kPeek, queue, itemId);
  if (existing.empty()) return notFound("item '" + itemId + "' not found in queue '" + queue + "'");
  return failedPrecondition("stale lease: the token is not the current lease of item '" + itemId + "'");
}

Result<store::QueueItem> Operations::extend(pqxx::transaction_base& tx, const std::string& queue,
                                            const std::string& itemId, const std::string& leaseToken,
                                            std::chrono::milliseconds lease) {
  HIVE_TRY(checkName(queue, "queue"));
  HIVE_TRY(checkId(itemId, "item"));
  HIVE_TRY(checkLease(lease));
  HIVE_TRY(checkShortText(leaseToken, "lease token", 256));
  auto result =
      tx.exec_prepared(sql::kExtend, queue, itemId, leaseToken, static_cast<std::int64_t>(lease.count()));
  if (result.empty()) return itemMismatch(tx, queue, itemId);
  return itemFromRow(result[0]);
}

Status Operations::complete(pqxx::transaction_base& tx, const std::string& queue, const std::string& itemId,
                            const std::string& leaseToken) {
  HIVE_TRY(checkName(queue, "queue"));
  HIVE_TRY(checkId(itemId, "item"));
  HIVE_TRY(checkShortText(leaseToken, "lease token", 256));
  auto result = tx.exec_prepared(sql::kComplete, queue, itemId, leaseToken);
  if (result.empty()) return itemMismatch(tx, queue, itemId);
  return okStatus();
}

Status Operations::fail(pqxx::transaction_base& tx, const std::string& queue, const std::string& itemId,
                        const std::string& leaseToken, std::chrono::milliseconds retryAfter,
                        const std::string& error, Wakeups& wakeups) {
  HIVE_TRY(checkName(queue, "queue"));
  HIVE_TRY(checkId(itemId, "item"));
  HIVE_TRY(checkShortText(leaseToken, "lease token", 256));
  if (retryAfter.count() < 0 || retryAfter > std::chrono::hours(24 * 365))
    return invalidArgument("retryAfter must be between 0 and 365 days");
  std::string recorded = error.size() > 4096 ? error.substr(0, 4096) : error;
  auto result = tx.exec_prepared(sql::kFail, queue, itemId, leaseToken,
                                 static_cast<std::int64_t>(retryAfter.count()), bytes(recorded));
  if (result.empty()) return itemMismatch(tx, queue, itemId);
  wakeups.emplace(queue, retryAfter.count() == 0 ? 0 : result[0][0].as<std::int64_t>());
  return okStatus();
}

Status Operations::cancel(pqxx::transaction_base& tx, const std::string& queue, const std::string& itemId) {
  HIVE_TRY(checkName(queue, "queue"));
  HIVE_TRY(checkId(itemId, "item"));
  auto result = tx.exec_prepared(sql::kCancel, queue, itemId);
  if (result.empty()) return notFound("item '" + itemId + "' not found in queue '" + queue + "'");
  return okStatus();
}

Result<std::vector<store::QueueItem>> Operations::releaseExpired(pqxx::transaction_base& tx,
                                                                 const std::string& queue, Wakeups& wakeups) {
  HIVE_TRY(checkName(queue, "queue"));
  auto result = tx.exec_prepared(sql::kRelease, queue);
  std::vector<std::pair<std::int64_t, store::QueueItem>> ordered;
  for (const auto& row : result) ordered.emplace_back(row[12].as<std::int64_t>(), itemFromRow(row));
  std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<store::QueueItem> items;
  for (auto& entry : ordered) items.push_back(std::move(entry.second));
  if (!items.empty()) wakeups.emplace(queue, 0);
  return items;
}

Result<store::QueueItem> Operations::peek(pqxx::transaction_base& tx, const std::string& queue,
                                          const std::string& itemId) {
  HIVE_TRY(checkName(queue, "queue"));
  HIVE_TRY(checkId(itemId, "item"));
  auto result = tx.exec_prepared(sql::kPeek, queue, itemId);
  if (result.empty()) return notFound("item '" + itemId + "' not found in queue '" + queue + "'");
  return itemFromRow(result[0]);
}

Result<std::map<int, std::uint64_t>> Operations::depth(pqxx::transaction_base& tx, const std::string& queue) {
  HIVE_TRY(checkName(queue, "queue"));
  auto result = tx.exec_prepared(sql::kDepth, queue);
  std::map<int, std::uint64_t> out;
  for (const auto& row : result)
    out[row[0].as<int>()] = static_cast<std::uint64_t>(row[1].as<std::int64_t>());
  return out;
}

// ---- events

Status Operations::checkEvent(const std::string& stream, const std::string& type,
                              const std::string& body) const {
  HIVE_TRY(checkName(stream, "stream"));
  HIVE_TRY(checkShortText(type, "event type", 256));
  if (body.size() > limits_.maxEventBytes)
    return invalidArgument("event body is " + std::to_string(body.size()) + " bytes, at most " +
                           std::to_string(limits_.maxEventBytes) + " allowed (max_event_bytes)");
  return okStatus();
}

Result<std::uint64_t> Operations::append(pqxx::transaction_base& tx, const std::string& stream,
                                         const std::string& type, const std::string& body) {
  HIVE_TRY(checkEvent(stream, type, body));
  auto result = tx.exec_prepared(sql::kAppend, stream, bytes(type), bytes(body));
  return static_cast<std::uint64_t>(result[0][0].as<std::int64_t>());
}

Status Operations::appendMany(pqxx::transaction_base& tx, const std::string& stream, std::uint64_t lastId,
                              const std::vector<PendingEvent>& events) {
  if (events.empty()) return okStatus();
  std::string ids = "{", types = "{", bodies = "{";
  for (std::size_t i = 0; i < events.size(); ++i) {
    const char* separator = i == 0 ? "" : ",";
    ids += separator + std::to_string(lastId + 1 + i);
    types += separator;
    appendByteaElement(types, events[i].type);
    bodies += separator;
    appendByteaElement(bodies, events[i].body);
  }
  for (std::string* list : {&ids, &types, &bodies}) list->push_back('}');
  auto result = tx.exec_prepared(sql::kAppendMany, stream, static_cast<std::int64_t>(lastId + events.size()),
                                 ids, types, bodies);
  if (result.affected_rows() != events.size())
    return internalError("stream '" + stream + "': " + std::to_string(result.affected_rows()) + " of " +
                         std::to_string(events.size()) + " events written");
  return okStatus();
}

Result<std::vector<store::Event>> Operations::read(pqxx::transaction_base& tx, const std::string& stream,
                                                   std::uint64_t afterId, std::size_t limit) {
  HIVE_TRY(checkName(stream, "stream"));
  if (limit < 1 || limit > 10'000)
    return invalidArgument("limit must be 1..10000, got " + std::to_string(limit));
  auto after = static_cast<std::int64_t>(std::min<std::uint64_t>(afterId, INT64_MAX));
  auto result = tx.exec_prepared(sql::kRead, stream, after, static_cast<std::int64_t>(limit));
  std::vector<store::Event> events;
  events.reserve(result.size());
  for (const auto& row : result) {
    store::Event event;
    event.stream = stream;
    event.id = static_cast<std::uint64_t>(row[0].as<std::int64_t>());
    event.type = bytesOf(row[1]);
    event.body = bytesOf(row[2]);
    event.timestampMs = row[3].as<std::int64_t>();
    events.push_back(std::move(event));
  }
  return events;
}

Result<std::uint64_t> Operations::trim(pqxx::transaction_base& tx, const std::string& stream,
                                       std::int64_t beforeMs, std::size_t limit) {
  HIVE_TRY(checkName(stream, "stream"));
  if (limit < 1 || limit > 10'000)
    return invalidArgument("trim limit must be 1..10000, got " + std::to_string(limit));
  auto result = tx.exec_prepared(sql::kTrim, stream, beforeMs, static_cast<std::int64_t>(limit));
  return static_cast<std::uint64_t>(result[0][0].as<std::int64_t>());
}

Result<std::uint64_t> Operations::eraseEvents(pqxx::transaction_base& tx, const std::string& stream,
                                              const std::vector<std::uint64_t>& ids) {
  HIVE_TRY(checkName(stream, "stream"));
  if (ids.size() > 10'000)
    return invalidArgument("at most 10000 events are erased at once, got " + std::to_string(ids.size()));
  if (ids.empty()) return std::uint64_t{0};
  std::string array = "{";
  for (std::size_t i = 0; i < ids.size(); ++i)
    (array += i ? "," : "") += std::to_string(std::min<std::uint64_t>(ids[i], INT64_MAX));
  array += "}";
  auto result = tx.exec_prepared(sql::kEraseEvents, stream, array);
  return static_cast<std::uint64_t>(result[0][0].as<std::int64_t>());
}

// ---- counters

namespace {
constexpr std::size_t kMaxCounters = 10'000;
}  // namespace

Status Operations::addToCounters(pqxx::transaction_base& tx, std::size_t shard,
                                 const std::map<std::string, std::int64_t>& deltas) {
  if (deltas.empty()) return okStatus();
  // Names are checked ([a-z][a-z0-9_.-]*): nothing in them needs escaping.
  std::string names = "{", values = "{";
  for (const auto& [name, delta] : deltas) {
    if (names.size() > 1) names += ',', values += ',';
    names += name;
    values += std::to_string(delta);
  }
  names += '}';
  values += '}';
  // Beyond the bigint range the statement fails (22003, kOutOfRange) and with
  // it the unit of work. Concurrent units see each other's shards only once
  // committed, so that check is exact for one writer and close for several.
  tx.exec_prepared(sql::kCounterAdd, names, values, static_cast<int>(shard));
  return okStatus();
}

Result<std::map<std::string, std::int64_t>> Operations::counters(pqxx::transaction_base& tx,
                                                                 const std::string& prefix) {
  if (!prefix.empty()) HIVE_TRY(checkName(prefix, "counter prefix"));
  // Names use only [a-z0-9_.-], all below 0x7f, and the column is COLLATE "C":
  // [prefix, prefix + 0x7f) is exactly the names that start with it.
  auto result =
      tx.exec_prepared(sql::kCounters, prefix, prefix + '\x7f', static_cast<std::int64_t>(kMaxCounters) + 1);
  if (result.size() > kMaxCounters)
    return Status(StatusCode::kOutOfRange, "more than " + std::to_string(kMaxCounters) +
                                               " counters start with '" + prefix + "': narrow the prefix");
  std::map<std::string, std::int64_t> out;
  for (const auto& row : result) out.emplace(textOf(row[0]), row[1].as<std::int64_t>());
  return out;
}

}  // namespace hive::storage_postgres
