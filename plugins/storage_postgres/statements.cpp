#include "statements.hpp"

namespace hive::storage_postgres {
namespace {

// Replaces {s} with the quoted schema and {now} with kNowMs.
std::string expand(std::string text, const std::string& schema) {
  const std::string quoted = "\"" + schema + "\"";
  for (std::size_t pos = text.find("{s}"); pos != std::string::npos; pos = text.find("{s}", pos))
    text.replace(pos, 3, quoted);
  const std::string now = kNowMs;
  for (std::size_t pos = text.find("{now}"); pos != std::string::npos; pos = text.find("{now}", pos))
    text.replace(pos, 5, now);
  return text;
}

constexpr const char* kItemColumns =
    "queue, id, payload, priority, not_before_ms, enqueued_at_ms, idempotency_key, attempts, lease_token, "
    "claimant, lease_expires_ms, last_error, seq";
constexpr const char* kItemColumnsOfI =
    "i.queue, i.id, i.payload, i.priority, i.not_before_ms, i.enqueued_at_ms, i.idempotency_key, i.attempts, "
    "i.lease_token, i.claimant, i.lease_expires_ms, i.last_error, i.seq";
constexpr const char* kDocColumns = "id, version, body, index::text, created_at_ms, updated_at_ms";

}  // namespace

std::string notifyChannel(const std::string& schema) { return "hive_claimable_" + schema; }

Statements::Statements(const std::string& schema) {
  using namespace statement;
  const std::string items = kItemColumns;
  auto add = [&](const char* name, const std::string& text) {
    statements_.emplace_back(name, expand(text, schema));
  };
  add(kDocGet,
      std::string("SELECT ") + kDocColumns + " FROM {s}.documents WHERE collection = $1 AND id = $2");
  add(kDocCreate,
      "INSERT INTO {s}.documents (collection, id, version, body, index, created_at_ms, updated_at_ms) "
      "SELECT $1, $2, 1, $3, $4::jsonb, t.n, t.n FROM (SELECT {now} AS n) t "
      "ON CONFLICT DO NOTHING RETURNING version, created_at_ms, updated_at_ms");
  add(kDocUpsert,
      "INSERT INTO {s}.documents AS d (collection, id, version, body, index, created_at_ms, updated_at_ms) "
      "SELECT $1, $2, 1, $3, $4::jsonb, t.n, t.n FROM (SELECT {now} AS n) t "
      "ON CONFLICT (collection, id) DO UPDATE SET version = d.version + 1, body = EXCLUDED.body, "
      "index = EXCLUDED.index, updated_at_ms = GREATEST(EXCLUDED.updated_at_ms, d.created_at_ms) "
      "RETURNING version, created_at_ms, updated_at_ms");
  add(kDocUpdate,
      "UPDATE {s}.documents SET version = version + 1, body = $3, index = $4::jsonb, "
      "updated_at_ms = GREATEST({now}, created_at_ms) WHERE collection = $1 AND id = $2 AND version = $5 "
      "RETURNING version, created_at_ms, updated_at_ms");
  add(kDocDelete, "DELETE FROM {s}.documents WHERE collection = $1 AND id = $2 RETURNING version");
  add(kDocDeleteVersion,
      "DELETE FROM {s}.documents WHERE collection = $1 AND id = $2 AND version = $3 RETURNING version");
  add(kDocList, std::string("SELECT ") + kDocColumns +
                    " FROM {s}.documents WHERE collection = $1 AND id > $2 AND index @> $3::jsonb "
                    "ORDER BY id LIMIT $4");
  add(kCollectionGet, "SELECT array_to_string(fields, ',') FROM {s}.collections WHERE name = $1");
  add(kCollectionDeclare,
      "INSERT INTO {s}.collections AS c (name, fields) VALUES ($1, string_to_array($2, ',')) "
      "ON CONFLICT (name) DO UPDATE SET fields = ARRAY(SELECT DISTINCT f FROM unnest(c.fields || "
      "EXCLUDED.fields) "
      "AS f ORDER BY f) RETURNING array_to_string(fields, ',')");
  add(kEnqueue,
      "INSERT INTO {s}.queue_items (queue, id, payload, priority, not_before_ms, enqueued_at_ms, "
      "idempotency_key) VALUES ($1, COALESCE(NULLIF($2, ''), gen_random_uuid()::text), $3, $4, $5, {now}, "
      "NULLIF($6, ''::bytea)) ON CONFLICT DO NOTHING RETURNING " +
          items);
  // Many enqueues of one group commit in one statement; rows that conflict (an
  // existing id or idempotency key) are skipped and handled one by one.
  add(kEnqueueMany,
      "INSERT INTO {s}.queue_items (queue, id, payload, priority, not_before_ms, enqueued_at_ms, "
      "idempotency_key) SELECT u.q, u.i, u.p, u.pr, u.nb, {now}, NULLIF(u.k, ''::bytea) FROM "
      "unnest($1::text[], $2::text[], $3::bytea[], $4::integer[], $5::bigint[], $6::bytea[]) "
      "AS u(q, i, p, pr, nb, k) ON CONFLICT DO NOTHING RETURNING " +
          items);
  add(kByKey, "SELECT " + items + " FROM {s}.queue_items WHERE queue = $1 AND idempotency_key = $2");
  add(kPeek, "SELECT " + items + " FROM {s}.queue_items WHERE queue = $1 AND id = $2");
  // Free items and items whose lease expired come from their own partial
  // indexes (migration 3), each in claim order; the best $3 of both are taken.
  // A row the first two lock and the third leaves stays locked to the commit.
  add(kClaim,
      "WITH ready AS (SELECT queue, id, priority, seq FROM {s}.queue_items WHERE queue = $1 "
      "AND lease_token IS NULL AND priority >= $2 AND not_before_ms <= {now} "
      "ORDER BY priority DESC, seq LIMIT $3 FOR UPDATE SKIP LOCKED), "
      "expired AS (SELECT queue, id, priority, seq FROM {s}.queue_items WHERE queue = $1 "
      "AND lease_token IS NOT NULL AND lease_expires_ms <= {now} AND priority >= $2 "
      "AND not_before_ms <= {now} ORDER BY priority DESC, seq LIMIT $3 FOR UPDATE SKIP LOCKED), "
      "picked AS (SELECT queue, id FROM (SELECT * FROM ready UNION ALL SELECT * FROM expired) AS c "
      "ORDER BY priority DESC, seq LIMIT $3) "
      "UPDATE {s}.queue_items AS i SET lease_token = replace(gen_random_uuid()::text, '-', ''), claimant = "
      "$4, lease_expires_ms = {now} + $5, attempts = i.attempts + 1 FROM picked "
      "WHERE i.queue = picked.queue AND i.id = picked.id RETURNING " +
          std::string(kItemColumnsOfI));
  add(kExtend,
      "UPDATE {s}.queue_items SET lease_expires_ms = {now} + $4 WHERE queue = $1 AND id = $2 "
      "AND lease_token = $3 RETURNING " +
          items);
  add(kComplete,
      "DELETE FROM {s}.queue_items WHERE queue = $1 AND id = $2 AND lease_token = $3 RETURNING seq");
  add(kCompleteMany,
      "DELETE FROM {s}.queue_items AS i USING unnest($1::text[], $2::text[], $3::text[]) AS u(q, id, token) "
      "WHERE i.queue = u.q AND i.id = u.id AND i.lease_token = u.token RETURNING i.queue, i.id, "
      "i.lease_token");
  add(kFail,
      "UPDATE {s}.queue_items SET lease_token = NULL, claimant = ''::bytea, lease_expires_ms = 0, "
      "not_before_ms = {now} + $4, last_error = $5 WHERE queue = $1 AND id = $2 AND lease_token = $3 "
      "RETURNING not_before_ms");
  add(kCancel, "DELETE FROM {s}.queue_items WHERE queue = $1 AND id = $2 RETURNING seq");
  add(kRelease,
      "WITH expired AS (SELECT " + items +
          " FROM {s}.queue_items WHERE queue = $1 AND lease_token IS NOT NULL AND lease_expires_ms <= {now} "
          "ORDER BY seq LIMIT 10000 FOR UPDATE SKIP LOCKED) "
          "UPDATE {s}.queue_items AS i SET lease_token = NULL, claimant = ''::bytea, lease_expires_ms = 0 "
          "FROM expired WHERE i.queue = expired.queue AND i.id = expired.id RETURNING expired.*");
  add(kDepth,
      "SELECT priority, count(*) FROM (SELECT priority FROM {s}.queue_items WHERE queue = $1 "
      "AND lease_token IS NULL UNION ALL SELECT priority FROM {s}.queue_items WHERE queue = $1 "
      "AND lease_token IS NOT NULL AND lease_expires_ms <= {now}) AS d GROUP BY priority");
  add(kAppend,
      "WITH n AS (INSERT INTO {s}.streams AS s (name, last_id) VALUES ($1, 1) ON CONFLICT (name) "
      "DO UPDATE SET last_id = s.last_id + 1 RETURNING last_id) "
      "INSERT INTO {s}.events (stream, id, type, body, timestamp_ms) SELECT $1, n.last_id, $2, $3, {now} "
      "FROM n "
      "RETURNING id, timestamp_ms");
  // The rest of a unit of work's events on a stream, after its first append
  // locked the stream's row and took id $2 - (their count).
  add(kAppendMany,
      "WITH s AS (UPDATE {s}.streams SET last_id = $2 WHERE name = $1) "
      "INSERT INTO {s}.events (stream, id, type, body, timestamp_ms) SELECT $1, u.id, u.t, u.b, {now} "
      "FROM unnest($3::bigint[], $4::bytea[], $5::bytea[]) AS u(id, t, b)");
  // Only the oldest $3 events are looked at, and none from the first one that
  // is not older than $2 on: a bounded scan that only ever deletes a prefix.
  // The streams row keeps last_id, so ids go on after a trim.
  add(kTrim,
      "WITH oldest AS (SELECT id, timestamp_ms FROM {s}.events WHERE stream = $1 ORDER BY id LIMIT $3), "
      "cut AS (SELECT COALESCE(min(id), 9223372036854775807) AS young FROM oldest WHERE timestamp_ms >= $2), "
      "deleted AS (DELETE FROM {s}.events WHERE stream = $1 AND id IN "
      "(SELECT o.id FROM oldest o, cut WHERE o.id < cut.young) RETURNING 1) "
      "SELECT count(*) FROM deleted");
  // hive.store_erasure/1: the events become tombstones; ids and timestamps stay.
  add(kEraseEvents,
      "WITH erased AS (UPDATE {s}.events SET type = 'erased'::bytea, body = '{}'::bytea "
      "WHERE stream = $1 AND id = ANY($2::bigint[]) AND type <> 'erased'::bytea RETURNING 1) "
      "SELECT count(*) FROM erased");
  // A unit of work's additions, one row per counter ($1 names, $2 deltas; each
  // name once), in one statement at its end. A connection adds to its own
  // shard ($3, its pool slot), so concurrent units of work of one store never
  // wait on one row lock. Each counter's new total is computed, cast to bigint,
  // so that a total beyond its range fails the statement (22003) as a shard
  // beyond it does.
  add(kCounterAdd,
      "WITH up AS (INSERT INTO {s}.counters AS c (name, shard, value) "
      "SELECT u.n, $3::smallint, u.d FROM unnest($1::text[], $2::bigint[]) AS u(n, d) "
      "ON CONFLICT (name, shard) DO UPDATE SET value = c.value + EXCLUDED.value "
      "RETURNING name, shard, value) "
      "SELECT (up.value::numeric + COALESCE((SELECT sum(o.value) FROM {s}.counters o "
      "WHERE o.name = up.name AND o.shard <> up.shard), 0))::bigint FROM up");
  add(kCounters,
      "SELECT name, sum(value)::bigint FROM {s}.counters WHERE name >= $1 AND name < $2 GROUP BY name "
      "ORDER BY name LIMIT $3");
  add(kRead,
      "SELECT id, type, body, timestamp_ms FROM {s}.events WHERE stream = $1 AND id > $2 ORDER BY id LIMIT "
      "$3");
}

void Statements::prepareAll(pqxx::connection& connection) const {
  for (const auto& [name, text] : statements_) connection.prepare(name, text);
}

}  // namespace hive::storage_postgres
