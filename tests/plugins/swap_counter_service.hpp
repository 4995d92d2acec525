// The service of the hot-swap test plugin.
#pragma once

#include <cstdint>
#include <string>

#include "hive/services.hpp"

namespace hive::test {

class SwapCounter : public Service {
 public:
  static constexpr ServiceId kServiceId{"test.swap_counter", 1};
  // One more than the last value handed out, across generations.
  virtual std::int64_t next() = 0;
  // Which build serves ("v1", "v2", ...).
  virtual std::string build() const = 0;
  // Timer ticks seen by this generation (proves its Asio timer runs).
  virtual std::int64_t ticks() const = 0;
};

}  // namespace hive::test
