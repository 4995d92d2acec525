// hive.store_erasure/1 over a store provider's own eraseEvents(), for
// storage_sqlite and storage_postgres: the plugin provides it beside its
// hive.store/1, and withdraws both when it stops.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "hive/services/store_erasure.hpp"

namespace hive::plugin_common {

template <typename Store>
class EventErasure final : public store::Erasure {
 public:
  explicit EventErasure(std::shared_ptr<Store> store) : store_(std::move(store)) {}
  Result<std::uint64_t> eraseEvents(const std::string& stream,
                                    const std::vector<std::uint64_t>& ids) override {
    return store_->eraseEvents(stream, ids);
  }

 private:
  std::shared_ptr<Store> store_;
};

}  // namespace hive::plugin_common
