// The hello plugin: greets people, counts greetings, logs a heartbeat.
//
// config:
//   greeting: Hello      what greet() says
//   heartbeat: 30s       how often it logs that it is alive
#pragma once

#include <hive/plugin.hpp>
#include <memory>
#include <string>

#include "hello/greeter.hpp"

namespace hello {

class HelloPlugin final : public hive::Plugin {
 public:
  explicit HelloPlugin(hive::PluginContext& context);

  // hive::Plugin
  void configure(const hive::ConfigNode& section, hive::Diagnostics& diagnostics) override;
  hive::Status start() override;
  void stop() override;

 private:
  hive::PluginContext& context_;
  std::string greeting_ = "Hello";
  std::chrono::milliseconds heartbeat_{30'000};
  std::unique_ptr<hive::Timer> timer_;
  long beats_ = 0;
};

}  // namespace hello
