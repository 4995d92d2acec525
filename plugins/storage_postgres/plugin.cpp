// Entry point of storage_postgres: the manifest and nothing else.
#include "hive/plugin.hpp"

#include "hive/services/store.hpp"
#include "hive/services/store_erasure.hpp"
#include "postgres_plugin.hpp"

HIVE_PLUGIN(hive::storage_postgres::PostgresPlugin, .name = "storage_postgres", .version = "1.0.0",
            .description = "hive.store/1 on PostgreSQL (libpqxx): group commit, SKIP LOCKED, LISTEN/NOTIFY",
            .provides = {hive::store::Store::kServiceId, hive::store::Erasure::kServiceId})
