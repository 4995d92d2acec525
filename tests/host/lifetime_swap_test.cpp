// Cross-plugin lifetimes through the real loader: the built communication_engine
// and storage_sqlite, and two third-party consumers of theirs
// (tests/plugins/listener.cpp): one that subscribes in start() and drops the
// subscriptions in stop() and nothing more (naive), one that follows its
// providers with hive::ServiceFollower (as docs/plugin-authors.md teaches).
// Both must keep receiving across 10 swaps of each provider, and the host must
// stop cleanly after (what SIGTERM does): the naive one's subscriptions were made
// by the first generations of the providers, long replaced by then. The store
// is storage_sqlite, and storage_postgres when HIVE_TEST_POSTGRES_URL names a
// server (scripts/test-servers).
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "../plugins/listener_service.hpp"
#include "hive/services/bus.hpp"
#include "hive/services/store.hpp"
#include "host/logging.hpp"
#include "host/plugin_host.hpp"
#include "host/service_registry.hpp"
#include "test_support.hpp"

namespace hive::host {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::ListenerService;

const fs::path kPlugins = fs::path(HIVE_BINARY_DIR) / "plugins";
const fs::path kSwapPlugins = fs::path(HIVE_BINARY_DIR) / "swap_plugins";
const char* const kConsumers[] = {"listener_naive", "listener_taught"};

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

class LifetimeSwapTest : public ::testing::Test {
 protected:
  LifetimeSwapTest() {
    logFd_ = ::open((dir_.path() / "hive.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    logs_ = std::make_unique<LogSystem>(LogOutputFormat::kText, LogLevel::kInfo, logFd_);
    fs::create_directories(pluginDir_);
    for (const char* file :
         {"communication_engine-1.0.0.so", "storage_sqlite-1.0.0.so", "storage_postgres-1.0.0.so"})
      fs::copy_file(kPlugins / file, pluginDir_ / file);
    for (const char* consumer : kConsumers)
      fs::copy_file(kSwapPlugins / (std::string(consumer) + "-1.0.0.so"),
                    pluginDir_ / (std::string(consumer) + "-1.0.0.so"));
  }
  ~LifetimeSwapTest() override {
    host_.reset();
    logs_.reset();
    ::close(logFd_);
  }

  // `store` is the provider of hive.store/1, with its config section.
  void start(const std::string& store = "storage_sqlite", ConfigNode storeConfig = ConfigNode::map()) {
    KernelConfig config;
    config.pluginDirectories = {pluginDir_.string()};
    config.dataDirectory = (dir_.path() / "data").string();
    config.ioThreads = 2;
    config.blockingThreads = 2;
    config.drainDeadline = 10s;
    for (const std::string& name : {store, std::string("communication_engine"), std::string(kConsumers[0]),
                                    std::string(kConsumers[1])}) {
      PluginEntry entry;
      entry.name = name;
      entry.config = name == store ? storeConfig : ConfigNode::map();
      config.plugins.push_back(entry);
    }
    host_ = std::make_unique<PluginHost>(config, *logs_);
    Diagnostics diagnostics;
    ASSERT_TRUE(host_->load(diagnostics).ok()) << diagnostics.toString();
    ASSERT_TRUE(host_->start().ok()) << log();
    for (const auto& plugin : host_->status())
      ASSERT_EQ(plugin.state, PluginState::kStarted) << plugin.name << ": " << plugin.reason;
  }

  // A copy under a new name each time, as a rebuilt file would be.
  void swap(const std::string& name) {
    fs::path copy = pluginDir_ / ("swap-" + std::to_string(++swaps_) + "-" + name + ".so");
    fs::copy_file(kPlugins / (name + "-1.0.0.so"), copy);
    Status swapped = host_->reload(name, copy.string());
    ASSERT_TRUE(swapped.ok()) << swapped.toString() << "\n" << log();
    fs::remove(copy);
  }

  template <typename T>
  ServiceRef<T> get(const std::string& provider = {}) {
    for (auto& lease : host_->services().lookup({T::kServiceId.name, T::kServiceId.major}))
      if (provider.empty() || lease.provider == provider) return ServiceRef<T>(std::move(lease));
    ADD_FAILURE() << "no provider of " << T::kServiceId.toString();
    return {};
  }

  std::int64_t events(const char* consumer) { return get<ListenerService>(consumer)->events(); }
  std::int64_t wakeups(const char* consumer) { return get<ListenerService>(consumer)->wakeups(); }

  std::string log() const { return test::readText(dir_.path() / "hive.log"); }

  void swapEachProviderTenTimesAndStop(const std::string& store);

  test::TempDirectory dir_;
  fs::path pluginDir_ = dir_.path() / "plugins";
  int logFd_ = -1;
  std::unique_ptr<LogSystem> logs_;
  std::unique_ptr<PluginHost> host_;
  int swaps_ = 0;
};

// Ten swaps of the bus, then ten of `store`, each followed by an event and a
// wake-up both consumers must receive; then the stop.
void LifetimeSwapTest::swapEachProviderTenTimesAndStop(const std::string& store) {
  for (int round = 1; round <= 10; ++round) {
    swap("communication_engine");
    if (HasFatalFailure()) return;
    ASSERT_TRUE(get<bus::Bus>()->publish("lifetime." + std::to_string(round), "{}").ok());
    for (const char* consumer : kConsumers)
      ASSERT_TRUE(eventually([&] { return events(consumer) >= round; }))
          << consumer << " received " << events(consumer) << " events after bus swap " << round;
  }

  for (int round = 1; round <= 10; ++round) {
    std::int64_t before[2] = {wakeups(kConsumers[0]), wakeups(kConsumers[1])};
    swap(store);
    if (HasFatalFailure()) return;
    store::EnqueueRequest request;
    request.queue = "lifetime";
    request.payload = "{}";
    ASSERT_TRUE(get<store::Store>()->enqueue(request).ok());
    for (int i = 0; i < 2; ++i)
      ASSERT_TRUE(eventually([&] { return wakeups(kConsumers[i]) > before[i]; }))
          << kConsumers[i] << " got no wake-up after " << store << " swap " << round;
  }

  // The events still flow through the 11th generation of the bus.
  ASSERT_TRUE(get<bus::Bus>()->publish("lifetime.last", "{}").ok());
  for (const char* consumer : kConsumers) ASSERT_TRUE(eventually([&] { return events(consumer) >= 11; }));

  // What SIGTERM does: stop everything. The naive consumer drops, in its
  // stop(), subscriptions made by generation 1 of both providers.
  host_->stop();
  host_.reset();
  EXPECT_EQ(log().find("crash"), std::string::npos) << log();
}

TEST_F(LifetimeSwapTest, ConsumersKeepReceivingAcrossTenSwapsOfEachProviderAndTheHostStopsCleanly) {
  start();
  if (HasFatalFailure()) return;
  swapEachProviderTenTimesAndStop("storage_sqlite");
}

// The same with storage_postgres, whose wake-ups come through LISTEN/NOTIFY on
// a connection of each generation (claimable_notifier.cpp).
TEST_F(LifetimeSwapTest, ConsumersKeepReceivingAcrossTenSwapsOfStoragePostgres) {
  const char* url = std::getenv("HIVE_TEST_POSTGRES_URL");
  if (url == nullptr)
    GTEST_SKIP() << "HIVE_TEST_POSTGRES_URL is not set (eval \"$(scripts/test-servers start)\")";
  ConfigNode config = ConfigNode::map();
  config.set("url", ConfigNode::scalar(url));
  config.set("schema", ConfigNode::scalar("lifetime_" + std::to_string(::getpid())));
  start("storage_postgres", config);
  if (HasFatalFailure()) return;
  swapEachProviderTenTimesAndStop("storage_postgres");
}

}  // namespace
}  // namespace hive::host
