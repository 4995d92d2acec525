// The store's own tables, versioned. Applied at start in one transaction under an
// advisory lock, so that nodes starting at once do not race; a schema newer than
// this code is refused rather than used.
#pragma once

#include <cstdint>
#include <string>

#include <pqxx/connection>

#include "errors.hpp"
#include "hive/status.hpp"

namespace hive::storage_postgres {

// The schema version this code writes and understands.
std::uint32_t latestSchemaVersion();

// Creates `schema` if needed and brings it to latestSchemaVersion(). Returns the
// version found before (0 for a fresh schema). kFailedPrecondition when the
// schema is newer than this code.
Result<std::uint32_t> migrate(pqxx::connection& connection, const std::string& schema,
                              const Redactor& redact);

}  // namespace hive::storage_postgres
