// test.listener/1: what a listener test plugin received (tests/plugins/listener.cpp).
#pragma once

#include <cstdint>

#include "hive/services.hpp"

namespace hive::test {

class ListenerService : public Service {
 public:
  static constexpr ServiceId kServiceId{"test.listener", 1};
  virtual std::int64_t events() = 0;
  virtual std::int64_t wakeups() = 0;
};

}  // namespace hive::test
