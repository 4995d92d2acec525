#include "schema.hpp"

#include <string>

namespace hive::storage_sqlite {

namespace {

// kMigrations[i] takes the schema from version i to version i + 1. Append only:
// a released migration is never edited.
constexpr const char* kMigrations[] = {
    // 1: documents, index entries, queue items, event logs.
    R"sql(
CREATE TABLE collections (
  name   TEXT PRIMARY KEY,
  fields TEXT NOT NULL  -- declared indexed fields, comma separated
) WITHOUT ROWID;

CREATE TABLE documents (
  collection  TEXT NOT NULL,
  id          TEXT NOT NULL,
  version     INTEGER NOT NULL,
  body        BLOB NOT NULL,
  index_data  BLOB NOT NULL,  -- the document's index map, length-prefixed
  created_ms  INTEGER NOT NULL,
  updated_ms  INTEGER NOT NULL,
  PRIMARY KEY (collection, id)
) WITHOUT ROWID;

CREATE TABLE document_index (
  collection TEXT NOT NULL,
  field      TEXT NOT NULL,
  value      TEXT NOT NULL,
  id         TEXT NOT NULL,
  PRIMARY KEY (collection, field, value, id)
) WITHOUT ROWID;
CREATE INDEX document_index_by_id ON document_index (collection, id);

CREATE TABLE queue_items (
  seq              INTEGER PRIMARY KEY,  -- enqueue order
  queue            TEXT NOT NULL,
  id               TEXT NOT NULL,
  payload          BLOB NOT NULL,
  priority         INTEGER NOT NULL,
  not_before_ms    INTEGER NOT NULL,
  enqueued_ms      INTEGER NOT NULL,
  idempotency_key  TEXT,
  attempts         INTEGER NOT NULL DEFAULT 0,
  lease_token      TEXT,
  claimant         TEXT,
  lease_expires_ms INTEGER NOT NULL DEFAULT 0,
  last_error       TEXT
);
CREATE UNIQUE INDEX queue_items_by_id ON queue_items (queue, id);
CREATE UNIQUE INDEX queue_items_by_key ON queue_items (queue, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX queue_items_by_order ON queue_items (queue, priority DESC, seq);
CREATE INDEX queue_items_by_lease ON queue_items (queue, lease_expires_ms) WHERE lease_token IS NOT NULL;

CREATE TABLE events (
  stream       TEXT NOT NULL,
  id           INTEGER NOT NULL,
  type         TEXT NOT NULL,
  body         BLOB NOT NULL,
  timestamp_ms INTEGER NOT NULL,
  PRIMARY KEY (stream, id)
) WITHOUT ROWID;
)sql",
    // 2: counters kept by units of work; the last id of streams trimmed empty.
    R"sql(
CREATE TABLE counters (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;

-- Written by trim(), read by append() only when a stream has no event left,
-- so that its ids go on instead of starting again from 1.
CREATE TABLE stream_trims (
  stream  TEXT PRIMARY KEY,
  last_id INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
    // 3: a document's index entries are found through its index_data (the
    // entries it holds), by primary key: the by-id index cost every indexed
    // write a second B-tree and about 300 bytes a task.
    R"sql(
DROP INDEX IF EXISTS document_index_by_id;
)sql",
};

static_assert(std::size(kMigrations) == kSchemaVersion, "one migration per schema version");

}  // namespace

Result<std::uint32_t> readSchemaVersion(Connection& connection) {
  HIVE_TRY(connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"));
  auto select = HIVE_TRY(connection.prepare("SELECT max(version) FROM schema_version"));
  bool row = HIVE_TRY(select.step());
  if (!row || select.isNull(0)) return std::uint32_t{0};
  std::int64_t version = select.integer(0);
  if (version < 0 || version > 1'000'000)
    return Status(StatusCode::kDataLoss, "schema_version holds " + std::to_string(version));
  return static_cast<std::uint32_t>(version);
}

Result<std::uint32_t> migrate(Connection& connection, const std::string& path) {
  HIVE_TRY(connection.execute("BEGIN IMMEDIATE"));
  auto applied = [&]() -> Result<std::uint32_t> {
    std::uint32_t version = HIVE_TRY(readSchemaVersion(connection));
    if (version > kSchemaVersion)
      return failedPrecondition("database " + path + " has schema version " + std::to_string(version) +
                                ", newer than this storage_sqlite knows (" + std::to_string(kSchemaVersion) +
                                "): refusing to open it; run a storage_sqlite that knows version " +
                                std::to_string(version) + " or restore a backup");
    for (std::uint32_t next = version + 1; next <= kSchemaVersion; ++next) {
      HIVE_TRY(connection.execute(kMigrations[next - 1]),
               "migration to schema version " + std::to_string(next));
      HIVE_TRY(connection.execute("DELETE FROM schema_version"));
      auto record = HIVE_TRY(connection.prepare("INSERT INTO schema_version (version) VALUES (?1)"));
      HIVE_TRY(record.bind(1, next).run());
    }
    return kSchemaVersion;
  }();
  if (!applied.ok()) {
    (void)connection.execute("ROLLBACK");
    return applied.status();
  }
  HIVE_TRY(connection.execute("COMMIT"));
  return applied;
}

}  // namespace hive::storage_sqlite
