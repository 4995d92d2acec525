#include "migrations.hpp"

#include <exception>
#include <vector>

#include <pqxx/transaction>

namespace hive::storage_postgres {
namespace {

// Migration N (1-based) brings the schema from version N-1 to N. Append only:
// never edit a migration that has shipped.
const std::vector<const char*>& migrations() {
  static const std::vector<const char*> kMigrations = {
      // 1: documents, queue items, event streams.
      R"sql(
CREATE TABLE {s}.collections (
  name text COLLATE "C" PRIMARY KEY,
  fields text[] NOT NULL DEFAULT '{}');
CREATE TABLE {s}.documents (
  collection text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  version bigint NOT NULL,
  body bytea NOT NULL,
  index jsonb NOT NULL DEFAULT '{}',
  created_at_ms bigint NOT NULL,
  updated_at_ms bigint NOT NULL,
  PRIMARY KEY (collection, id));
CREATE INDEX documents_index ON {s}.documents USING gin (index jsonb_path_ops);
CREATE TABLE {s}.queue_items (
  queue text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  seq bigserial NOT NULL,
  payload bytea NOT NULL,
  priority integer NOT NULL,
  not_before_ms bigint NOT NULL,
  enqueued_at_ms bigint NOT NULL,
  idempotency_key bytea,
  attempts integer NOT NULL DEFAULT 0,
  lease_token text,
  claimant bytea NOT NULL DEFAULT '',
  lease_expires_ms bigint NOT NULL DEFAULT 0,
  last_error bytea NOT NULL DEFAULT '',
  PRIMARY KEY (queue, id));
CREATE UNIQUE INDEX queue_items_idempotency ON {s}.queue_items (queue, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX queue_items_claim ON {s}.queue_items (queue, priority DESC, seq);
CREATE TABLE {s}.streams (
  name text COLLATE "C" PRIMARY KEY,
  last_id bigint NOT NULL);
CREATE TABLE {s}.events (
  stream text COLLATE "C" NOT NULL,
  id bigint NOT NULL,
  type bytea NOT NULL,
  body bytea NOT NULL,
  timestamp_ms bigint NOT NULL,
  PRIMARY KEY (stream, id));
)sql",
      // 2: counters kept by units of work. Every task submission adds to one,
      // so a single row per counter would serialise concurrent transactions on
      // its row lock: each counter is spread over a few shards (a connection
      // always adds to the same one) and counters() sums them.
      R"sql(
CREATE TABLE {s}.counters (
  name text COLLATE "C" NOT NULL,
  shard smallint NOT NULL,
  value bigint NOT NULL,
  PRIMARY KEY (name, shard));
)sql",
      // 3: the claim index holds only the items nobody leases. With one index
      // over every item, each claim walked past all the leased ones (as many as
      // the agents run at once, each a heap fetch) to find the first free one:
      // 1.6 ms a claim with 500 tasks running, the largest cost PostgreSQL had in
      // bench/tasks. Leases that expire are found by the second index.
      R"sql(
CREATE INDEX queue_items_ready ON {s}.queue_items (queue, priority DESC, seq) WHERE lease_token IS NULL;
CREATE INDEX queue_items_leased ON {s}.queue_items (queue, lease_expires_ms) WHERE lease_token IS NOT NULL;
DROP INDEX {s}.queue_items_claim;
)sql",
  };
  return kMigrations;
}

std::string expandSchema(std::string text, const std::string& quoted) {
  for (std::size_t pos = text.find("{s}"); pos != std::string::npos; pos = text.find("{s}", pos))
    text.replace(pos, 3, quoted);
  return text;
}

}  // namespace

std::uint32_t latestSchemaVersion() { return static_cast<std::uint32_t>(migrations().size()); }

Result<std::uint32_t> migrate(pqxx::connection& connection, const std::string& schema,
                              const Redactor& redact) {
  const std::string quoted = "\"" + schema + "\"";
  try {
    pqxx::work tx(connection);
    // One lock per schema name, held to the end of the transaction: a second node
    // starting at the same moment waits here and then finds the work done.
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext('hive.store:' || $1))", schema);
    tx.exec("CREATE SCHEMA IF NOT EXISTS " + quoted);
    tx.exec(
        "CREATE TABLE IF NOT EXISTS " + quoted +
        ".schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
    auto row = tx.exec1("SELECT COALESCE(max(version), 0) FROM " + quoted + ".schema_migrations");
    auto found = row[0].as<std::int64_t>();
    if (found > static_cast<std::int64_t>(latestSchemaVersion())) {
      tx.abort();
      return failedPrecondition("schema '" + schema + "' is at version " + std::to_string(found) +
                                ", newer than this storage_postgres supports (" +
                                std::to_string(latestSchemaVersion()) + "); upgrade the plugin");
    }
    for (auto version = static_cast<std::size_t>(found) + 1; version <= migrations().size(); ++version) {
      tx.exec(expandSchema(migrations()[version - 1], quoted));
      tx.exec_params("INSERT INTO " + quoted + ".schema_migrations (version) VALUES ($1)",
                     static_cast<int>(version));
    }
    tx.commit();
    return static_cast<std::uint32_t>(found);
  } catch (const std::exception& error) {
    return statusFromException(error, redact).withContext("migrating schema '" + schema + "'");
  }
}

}  // namespace hive::storage_postgres
