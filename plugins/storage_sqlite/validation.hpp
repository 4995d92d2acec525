// Checks of caller input against the hive.store/1 contract, before any SQL runs.
// Names and ids are checked as every provider checks them (hive/services/store_names.hpp).
#pragma once

#include <cstddef>
#include <string_view>

#include "hive/services/store_names.hpp"
#include "hive/status.hpp"

namespace hive::storage_sqlite {

using store::checkFieldName;
using store::checkId;
using store::checkName;
using store::quoted;

// At most `limit` bytes.
Status checkSize(std::string_view what, std::size_t size, std::size_t limit);

}  // namespace hive::storage_sqlite
