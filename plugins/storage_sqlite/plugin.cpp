// The entry point: the manifest and the factory, nothing else.
#include "hive/services/store.hpp"
#include "hive/services/store_erasure.hpp"
#include "storage_sqlite_plugin.hpp"

HIVE_PLUGIN(hive::storage_sqlite::StorageSqlitePlugin, .name = "storage_sqlite", .version = "1.0.0",
            .description = "hive.store/1 on an embedded SQLite database (WAL, group commit)",
            .provides = {hive::store::Store::kServiceId, hive::store::Erasure::kServiceId})
