// Hive::sdk_testing — drive a plugin in a unit test without the kernel.
//
//   auto harness = hive::testing::PluginHarness::create<MyPlugin>("my_plugin");
//   harness->setConfig(hive::testing::configFromPairs({{"greeting", "hi"}}));
//   ASSERT_FALSE(harness->configure().hasErrors());
//   ASSERT_TRUE(harness->start().ok());
//   harness->advanceTime(std::chrono::seconds(30));   // fires due timers, runs posted work
//   auto greeter = harness->services().get<Greeter>();
//
// Executors and timers are deterministic: posted work runs only in
// runPending()/advanceTime(), on the calling thread, and time moves only when
// advanceTime() says so. The registry is in memory; provideFake() stands in
// for the services of other plugins.
#pragma once

#include <chrono>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "hive/manifest.h"
#include "hive/plugin.hpp"

namespace hive::testing {

// A map node of scalars: configFromPairs({{"port", "8080"}, {"name", "x"}}).
// Nested sections: build them with ConfigNode::map() and set().
ConfigNode configFromPairs(std::initializer_list<std::pair<std::string, std::string>> pairs);

class PluginHarness {
 public:
  // Loads a built plugin .so (dlopen, RTLD_NOW | RTLD_LOCAL), checks its
  // manifest against these SDK headers, and constructs the plugin.
  static Result<std::unique_ptr<PluginHarness>> loadLibrary(const std::string& path);

  // Constructs a plugin class linked into the test (e.g. from <name>_objects).
  template <typename P>
  static std::unique_ptr<PluginHarness> create(std::string name, std::string version = "0.0.0") {
    std::unique_ptr<PluginHarness> harness(new PluginHarness(std::move(name), std::move(version)));
    harness->adopt(new P(harness->context()));
    return harness;
  }

  ~PluginHarness();
  PluginHarness(const PluginHarness&) = delete;
  PluginHarness& operator=(const PluginHarness&) = delete;

  void setConfig(ConfigNode section);
  // Plugin::configure with the config set; returns what it reported.
  Diagnostics configure();
  Status start();
  void stop();  // idempotent; also runs on destruction when started
  Status health();

  Plugin& plugin();
  PluginContext& context();
  // The plugin's manifest; null for create<>().
  const HiveManifest* manifest() const;

  ServiceRegistry& services();
  template <ServiceInterface T>
  void provideFake(std::shared_ptr<T> service, const std::string& provider = "test") {
    provideAs(provider, T::kServiceId, std::shared_ptr<Service>(std::move(service)));
  }

  // "info: message", in order.
  std::vector<std::string> logLines() const;
  // Runs posted work (io and blocking) until none is left; returns how much ran.
  std::size_t runPending();
  // Moves the manual clock, firing due timers in order, then runs posted work.
  void advanceTime(std::chrono::milliseconds duration);
  Metrics& metrics();

 private:
  struct State;
  PluginHarness(std::string name, std::string version);
  void adopt(Plugin* plugin);
  void provideAs(const std::string& provider, ServiceId id, std::shared_ptr<Service> service);

  std::unique_ptr<State> state_;
};

}  // namespace hive::testing
