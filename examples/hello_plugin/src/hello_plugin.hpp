// The hello plugin: provides example.greeter/1, counts greetings, logs a heartbeat.
//
// config:
//   greeting: Hello    what greet() says; must not be empty
//   heartbeat: 30s     how often it logs that it is alive
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <hive/plugin.hpp>

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
  hive::Counter& greetings_;
  std::string greeting_ = "Hello";
  std::chrono::milliseconds heartbeat_ = std::chrono::seconds(30);
  std::unique_ptr<hive::Timer> heartbeatTimer_;
};

}  // namespace hello
