// The database schema and its migrations. Each migration moves the schema from
// version N-1 to N; start() applies the missing ones in one transaction. A
// database whose schema is newer than kSchemaVersion was written by a newer
// storage_sqlite and is refused rather than misread.
#pragma once

#include <cstdint>

#include "connection.hpp"
#include "hive/status.hpp"

namespace hive::storage_sqlite {

inline constexpr std::uint32_t kSchemaVersion = 3;

// Reads the schema version (0 for a new database), refuses a newer one
// (kFailedPrecondition), and applies the missing migrations. Returns the version.
Result<std::uint32_t> migrate(Connection& connection, const std::string& path);

// The version recorded in the database, 0 when it has none yet.
Result<std::uint32_t> readSchemaVersion(Connection& connection);

}  // namespace hive::storage_sqlite
