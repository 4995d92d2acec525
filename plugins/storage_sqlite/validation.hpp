// Checks of caller input against the hive.store/1 contract, before any SQL runs.
#pragma once

#include <string>
#include <string_view>

#include "hive/status.hpp"

namespace hive::storage_sqlite {

// Collections, queues and streams: [a-z][a-z0-9_.-]{0,62}.
Status checkName(std::string_view what, std::string_view name);
// Document and item ids: 1..128 printable ASCII characters.
Status checkId(std::string_view what, std::string_view id);
// Indexed field names: [a-z][a-z0-9_]{0,62}.
Status checkField(std::string_view field);
// At most `limit` bytes.
Status checkSize(std::string_view what, std::size_t size, std::size_t limit);

// Printable, bounded rendering of caller input for error messages.
std::string quoted(std::string_view text);

}  // namespace hive::storage_sqlite
