// Reads that key_store and project_store share: every record of a
// collection, a page at a time, and the value of one change counter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "hive/services/store.hpp"
#include "hive/status.hpp"

namespace hive::security_manager {

// The records of `query` (its collection and filter), parsed by `parse`, in
// id order, at most `limit`; a record that does not parse is skipped, so that
// one damaged record does not lock every other out.
template <typename Record, typename Parse>
Result<std::vector<Record>> allRecords(store::Store& store, store::ListQuery query, std::size_t limit,
                                       Parse parse) {
  std::vector<Record> records;
  query.limit = 1000;
  do {
    auto page = HIVE_TRY(store.list(query));
    for (const auto& document : page.items) {
      auto record = parse(document.body);
      if (!record.ok()) continue;
      records.push_back(std::move(record).value());
      if (records.size() >= limit) return records;
    }
    query.cursor = page.nextCursor;
  } while (!query.cursor.empty());
  return records;
}

// The committed value of counter `name` (0 before its first change).
inline Result<std::int64_t> counterValue(store::Store& store, const std::string& name) {
  auto counters = HIVE_TRY(store.counters(name));
  auto found = counters.find(name);
  return found == counters.end() ? std::int64_t{0} : found->second;
}

}  // namespace hive::security_manager
