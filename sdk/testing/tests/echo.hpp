// Services of the harness's test plugin, shared by the plugin and the test.
#pragma once

#include <string>
#include <string_view>

#include "hive/services.hpp"

namespace harness_echo {

class Echo : public hive::Service {
 public:
  static constexpr hive::ServiceId kServiceId{"harness.echo", 1};
  virtual std::string echo(std::string_view text) = 0;
};

// Not in the plugin's manifest: providing it must fail.
class Undeclared : public hive::Service {
 public:
  static constexpr hive::ServiceId kServiceId{"harness.undeclared", 1};
};

}  // namespace harness_echo
