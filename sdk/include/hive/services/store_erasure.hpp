// hive.store_erasure/1 (SDK 2.11) — erasing chosen events of a hive.store/1
// event log, for erasure (a project's data removed everywhere). hive.store/1's
// logs are append-only with retention (Store::trim deletes the oldest part
// only); this is the one way to remove what an event in the middle of a stream
// says. The event stays as a tombstone — type "erased", body "{}", its id and
// timestamp kept — so that readers' cursors and a stream's ids are unchanged.
//
// A store provider that supports it provides this service too, under the same
// plugin: a consumer looks it up by its store's provider name.
//
//   auto store = context.services().handle<hive::store::Store>();
//   for (auto& lease : context.services().lookup(hive::store::Erasure::kServiceId))
//     if (lease.provider == storeProvider) ...
//
// Without it, a consumer says that the events stay until retention deletes them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hive/services.hpp"
#include "hive/status.hpp"

namespace hive::store {

class Erasure : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.store_erasure", 1};

  // Makes the events of `stream` with these ids (at most 10000) tombstones, in
  // one transaction; ids not there (never appended, trimmed) or already erased
  // are skipped. Returns how many were erased. Blocks.
  virtual Result<std::uint64_t> eraseEvents(const std::string& stream,
                                            const std::vector<std::uint64_t>& ids) = 0;
};

}  // namespace hive::store
