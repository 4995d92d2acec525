// The service the hello plugin provides. A consumer includes this header and asks
// the registry for it — services().get<hello::Greeter>() — without naming the plugin.
// Frozen once published: a change of signature is a new interface with id major 2.
#pragma once

#include <string>
#include <string_view>

#include <hive/services.hpp>

namespace hello {

class Greeter : public hive::Service {
 public:
  static constexpr hive::ServiceId kServiceId{"example.greeter", 1};

  // "<greeting>, <name>!". Thread-safe.
  virtual std::string greet(std::string_view name) = 0;
};

}  // namespace hello
