// Hive::sdk_testing — load and drive one plugin in a unit test, without the kernel.
//
//   auto harness = hive::testing::PluginHarness::create<MyPlugin>("my_plugin");      // linked in
//   auto loaded = hive::testing::PluginHarness::loadLibrary("build/my_plugin-1.0.0.so");  // the real .so
//
//   harness->setConfig(hive::testing::configFromPairs({{"greeting", "hi"}}));
//   ASSERT_FALSE(harness->configure().hasErrors());
//   harness->provideFake<hive::store::Store>(std::make_shared<MemoryStore>());  // others' services
//   ASSERT_TRUE(harness->start().ok());
//   auto greeter = harness->services().get<Greeter>();
//   harness->advanceTime(std::chrono::seconds(30));                      // fires due timers
//   EXPECT_EQ(harness->logLines().back(), "info: heartbeat");
//
// Everything the plugin gets from its PluginContext is a deterministic fake:
//   - io() and blocking() are manual queues: posted work runs only inside runPending() or
//     advanceTime(), on the test's thread, in the order it was posted.
//   - timers() runs on a manual clock that starts at 0 and moves only in advanceTime().
//   - services() is an in-memory registry; watch callbacks run synchronously, on the thread
//     that changed the registry.
//   - log() records "level: message" lines (logLines()); metrics() keeps instruments in memory.
//   - dataDirectory() is a fresh temporary directory, removed with the harness.
//   - nativeIoContext() is null: a plugin that uses hive/asio.hpp must be tested against the kernel.
//
// Threading: a harness and everything it lends are meant to be driven from one test thread.
// Fakes are safe to call from other threads, but nothing runs on its own.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "hive/config.hpp"
#include "hive/context.hpp"
#include "hive/manifest.h"
#include "hive/metrics.hpp"
#include "hive/plugin.hpp"
#include "hive/services.hpp"
#include "hive/status.hpp"

namespace hive::testing {

// A map node of scalars, in the given order:
//   configFromPairs({{"port", "8080"}, {"greeting", "hi"}})
// Nodes carry no source location, so diagnostics read "<config>: error: 'port': ...".
// For nested sections, sequences or located values build the tree directly:
//   auto section = hive::ConfigNode::map();
//   auto limits = hive::ConfigNode::map();
//   limits.set("burst", hive::ConfigNode::scalar("10", {"hive.yaml", 12, 5}));
//   section.set("limits", std::move(limits));
//   auto peers = hive::ConfigNode::sequence();
//   peers.push(hive::ConfigNode::scalar("a"));
//   section.set("peers", std::move(peers));
ConfigNode configFromPairs(std::initializer_list<std::pair<std::string, std::string>> pairs);

// One plugin instance and the fake kernel around it. Destroying the harness stops the
// plugin if it is started, destroys it (through the library's hive_plugin_destroy when it
// was loaded), drops every queued work item, timer and watch, and only then releases the
// library. A ServiceRef to a service of a loaded plugin pins its library, as in the
// kernel: the library is closed when the last one goes, even after the harness.
class PluginHarness {
 public:
  // dlopen(RTLD_NOW | RTLD_LOCAL)s a built plugin, reads its `hive_plugin_manifest`,
  // checks magic, SDK ABI (same major, minor not newer than these headers) and toolchain,
  // then constructs the plugin through `hive_plugin_create`. The plugin's name and
  // version come from its manifest. Errors name the file and what differs:
  //   "plugin 'x' 2.1.0: built for SDK ABI 2.x, these SDK headers are 1.0"
  // Unlike the kernel it loads the file in place: do not rebuild it while a test runs.
  static Result<std::unique_ptr<PluginHarness>> loadLibrary(const std::string& soPath);

  // Constructs `P` (linked into the test, e.g. through the plugin's `<name>_objects`
  // library) with the harness's context. There is no manifest, so no check of provided
  // service ids.
  template <class P>
  requires std::derived_from<P, Plugin> && std::constructible_from<P, PluginContext&>
  static std::unique_ptr<PluginHarness> create(std::string name, std::string version = "0.0.0") {
    std::unique_ptr<PluginHarness> harness(new PluginHarness(std::move(name), std::move(version), nullptr));
    harness->adopt(new P(harness->context()), [](Plugin* plugin) { delete plugin; });
    return harness;
  }

  ~PluginHarness();
  PluginHarness(const PluginHarness&) = delete;
  PluginHarness& operator=(const PluginHarness&) = delete;

  // The plugin's `config:` section, as context().config() returns it. Default: an empty map.
  void setConfig(ConfigNode section);
  // Plugin::configure with the section set; returns everything it reported.
  Diagnostics configure();
  // Plugin::start. Like the kernel, configures first when configure() was not called
  // since the last setConfig(), and never starts a plugin whose last configure()
  // reported errors (kInvalidArgument with the diagnostics). kFailedPrecondition when
  // already started.
  Status start();
  // Plugin::stop, then withdraws the services the plugin provided and cancels its
  // watches, as the kernel does. Does nothing when not started.
  void stop();
  Status health();
  bool started() const;

  Plugin& plugin();
  // What the plugin was given; use it to reach the fakes the same way the plugin does.
  PluginContext& context();
  // The loaded library's manifest; null for create<>().
  const HiveManifest* manifest() const;

  // The test's own view of the registry the plugin sees: lookups find the plugin's
  // services; what the test provides through it appears as provider "test".
  ServiceRegistry& services();
  // Stands in for a service of another plugin. Providing the same interface again under
  // the same provider replaces it (watchers see kReplaced, the generation bumps), which
  // is how a test plays a hot swap of a dependency.
  template <ServiceInterface T>
  void provideFake(std::shared_ptr<T> service, std::string provider = "test") {
    provideFakeService(T::kServiceId, std::shared_ptr<Service>(std::move(service)), std::move(provider));
  }
  // Withdraws a fake (watchers see kRemoved); false when there was none.
  template <ServiceInterface T>
  bool withdrawFake(const std::string& provider = "test") {
    return withdrawFakeService(T::kServiceId, provider);
  }

  // Every line logged so far, oldest first: "info: started", "warn: slow disk".
  std::vector<std::string> logLines() const;
  // Runs work posted to io() and blocking() — including work that work posts — on the
  // calling thread until both queues are empty; returns how many items ran. Stops after
  // 1'000'000 items so that a plugin that re-posts forever fails its test, not CI's timeout.
  std::size_t runPending();
  // Moves the manual clock forward. Each due timer fires in order of due time (ties in
  // order of arming), at its due time, and the work it posted runs before the next one
  // fires; then the remaining posted work runs. Timers armed meanwhile fire too if due.
  void advanceTime(std::chrono::milliseconds duration);
  // Time on the manual clock: the sum of every advanceTime() so far.
  std::chrono::milliseconds now() const;
  // The instruments the plugin created; asking again for a name and labels returns the
  // same one: metrics().counter("x_total", "").value(). exposition() is Prometheus text.
  Metrics& metrics();

 private:
  struct State;
  using Destroy = void (*)(Plugin*);

  PluginHarness(std::string name, std::string version, const HiveManifest* manifest);
  void adopt(Plugin* plugin, Destroy destroy);
  void provideFakeService(ServiceId id, std::shared_ptr<Service> service, std::string provider);
  bool withdrawFakeService(ServiceId id, const std::string& provider);

  std::unique_ptr<State> state_;
};

}  // namespace hive::testing
