// A tiny service interface shared by the test plugins and the tests.
#pragma once

#include <cstdint>

#include "hive/services.hpp"

namespace hive::test {

class CounterService : public Service {
 public:
  static constexpr ServiceId kServiceId{"test.counter", 1};
  virtual std::int64_t next() = 0;
};

}  // namespace hive::test
