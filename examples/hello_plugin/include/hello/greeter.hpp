// The service the hello plugin provides. Consumers include this header and ask
// the registry for hello::Greeter; they never name the plugin.
#pragma once

#include <hive/services.hpp>
#include <string>

namespace hello {

class Greeter : public hive::Service {
 public:
  static constexpr hive::ServiceId kServiceId{"example.greeter", 1};
  virtual std::string greet(const std::string& name) = 0;
};

}  // namespace hello
