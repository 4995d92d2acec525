// Hot swap of a running plugin under load, over real .so files and threads.
#include <fcntl.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../plugins/swap_counter_service.hpp"
#include "hive/services/swaps.hpp"
#include "host/logging.hpp"
#include "host/metrics.hpp"
#include "host/plugin_host.hpp"
#include "host/plugin_library.hpp"
#include "host/service_registry.hpp"
#include "swap_load.hpp"
#include "test_support.hpp"

namespace hive::host {
namespace {

using hive::test::SwapCounter;
using hive::test::TempDirectory;
using ::testing::HasSubstr;

const std::filesystem::path kSwapPlugins = std::filesystem::path(HIVE_BINARY_DIR) / "swap_plugins";

int devNull() {
  static int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  return fd;
}

class HotReloadTest : public ::testing::Test {
 protected:
  HotReloadTest() : logs_(LogOutputFormat::kText, LogLevel::kCritical, devNull()) {}

  std::string stage(const std::string& file, const std::string& as = "swap_counter.so") {
    std::filesystem::create_directories(pluginDir_);
    std::filesystem::copy_file(kSwapPlugins / file, pluginDir_ / as,
                               std::filesystem::copy_options::overwrite_existing);
    return (pluginDir_ / as).string();
  }

  std::unique_ptr<PluginHost> startHost(std::chrono::milliseconds drainDeadline = std::chrono::seconds(5)) {
    KernelConfig config;
    config.pluginDirectories = {pluginDir_.string()};
    config.dataDirectory = (dir_.path() / "data").string();
    config.ioThreads = 2;
    config.blockingThreads = 2;
    config.drainDeadline = drainDeadline;
    PluginEntry entry;
    entry.name = "swap_counter";
    entry.config = ConfigNode::map();
    config.plugins.push_back(entry);
    auto host = std::make_unique<PluginHost>(config, logs_);
    Diagnostics diagnostics;
    EXPECT_TRUE(host->load(diagnostics).ok()) << diagnostics.toString();
    EXPECT_TRUE(host->start().ok());
    return host;
  }

  // alpha (providing test.counter/1) and beta (depending on alpha ^1.0 and using
  // the counter), both 1.0.0, started.
  std::unique_ptr<PluginHost> startAlphaAndBeta() {
    std::filesystem::create_directories(pluginDir_);
    for (const char* f : {"alpha-1.0.0.so", "beta-1.0.0.so"})
      std::filesystem::copy_file(std::filesystem::path(HIVE_TEST_PLUGIN_DIR) / f, pluginDir_ / f);
    KernelConfig config;
    config.pluginDirectories = {pluginDir_.string()};
    config.dataDirectory = (dir_.path() / "data").string();
    PluginEntry alpha;
    alpha.name = "alpha";
    alpha.config = ConfigNode::map();
    alpha.config.set("provide_counter", ConfigNode::scalar("true"));
    PluginEntry beta;
    beta.name = "beta";
    beta.config = ConfigNode::map();
    beta.config.set("use_counter", ConfigNode::scalar("true"));
    config.plugins = {alpha, beta};
    auto host = std::make_unique<PluginHost>(config, logs_);
    Diagnostics diagnostics;
    if (!host->load(diagnostics).ok() || !host->start().ok()) {
      ADD_FAILURE() << "alpha and beta did not start: " << diagnostics.toString();
      return nullptr;
    }
    return host;
  }

  static ServiceHandle<SwapCounter> handleOf(PluginHost& host) {
    auto slot = host.services().slot({"test.swap_counter", 1}, "swap_counter");
    EXPECT_TRUE(slot.ok()) << slot.status().toString();
    return ServiceHandle<SwapCounter>(slot.ok() ? *slot : nullptr);
  }

  static std::string build(const ServiceHandle<SwapCounter>& handle) { return handle.lease()->build(); }

  TempDirectory dir_;
  std::filesystem::path pluginDir_ = dir_.path() / "plugins";
  LogSystem logs_;
};

TEST_F(HotReloadTest, SwapsUnderEightBusyThreadsWithoutAFailedCallOrLostState) {
  stage("swap_v1-1.0.0.so");
  std::size_t fdsBefore = hive::test::openFds();
  auto host = startHost();
  auto handle = handleOf(*host);
  ASSERT_EQ(build(handle), "v1");

  hive::test::SwapLoad load(handle, 8);

  const char* builds[] = {"swap_v2-1.1.0.so", "swap_v1-1.0.0.so"};
  for (int swap = 0; swap < 20; ++swap) {
    std::string path = stage(builds[swap % 2]);
    std::int64_t before = load.calls();
    while (load.calls() < before + 200) std::this_thread::yield();  // callers are really running
    Status swapped = host->reload("swap_counter", path);
    ASSERT_TRUE(swapped.ok()) << swapped.toString();
  }
  load.stop();

  EXPECT_EQ(load.failures(), 0);
  EXPECT_EQ(load.regressions(), 0) << "values went backwards: state was lost in a swap";
  // Every call got a distinct value and none was lost: the next one is calls + 1.
  EXPECT_EQ(handle.lease()->next(), load.calls() + 1);
  EXPECT_EQ(build(handle), "v1");
  auto waitUntil = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (handle.lease()->ticks() == 0 && std::chrono::steady_clock::now() < waitUntil)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_GT(handle.lease()->ticks(), 0) << "the new generation's Asio timer runs";

  auto status = host->status();
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].generation, 21u);
  EXPECT_EQ(status[0].reloads, 20u);
  host->reapLibraries();
  EXPECT_TRUE(host->retired().empty());
  EXPECT_EQ(hive::test::mappingsOf("memfd:hive-swap_counter-"), 1u)
      << "only the serving generation stays mapped";
  handle = {};
  host->stop();
  EXPECT_EQ(hive::test::mappingsOf("memfd:hive-swap_counter-"), 0u);
  host.reset();
  EXPECT_EQ(hive::test::openFds(), fdsBefore);
}

TEST_F(HotReloadTest, FailuresRollBackAndTheOldGenerationServesThroughout) {
  stage("swap_v1-1.0.0.so");
  auto host = startHost();
  auto handle = handleOf(*host);
  EXPECT_EQ(handle.lease()->next(), 1);

  struct Case {
    std::string file;
    std::string reason;
  };
  std::vector<Case> cases = {
      {"swap_fail_start-1.2.0.so", "start failed: UNAVAILABLE: told to fail at start"},
      {"swap_fail_health-1.2.0.so", "health check: UNAVAILABLE: told to fail its health check"},
  };
  std::int64_t expected = 1;
  for (const auto& c : cases) {
    Status result = host->reload("swap_counter", stage(c.file, c.file));
    EXPECT_FALSE(result.ok());
    EXPECT_THAT(result.message(), HasSubstr("reload of 'swap_counter' failed"));
    EXPECT_THAT(result.message(), HasSubstr("generation 1 keeps serving"));
    EXPECT_THAT(host->status()[0].lastReloadError, HasSubstr(c.file.empty() ? "" : "keeps serving"));
    EXPECT_EQ(build(handle), "v1");
    EXPECT_EQ(handle.lease()->next(), ++expected) << "state untouched by the failed swap";
  }

  // Another ABI, a truncated file, a file that is not ELF.
  std::filesystem::path foreign = pluginDir_ / "foreign.so";
  std::filesystem::copy_file(std::filesystem::path(HIVE_TEST_PLUGIN_DIR) / "abi_major-2.1.0.so", foreign);
  Status abi = host->reload("swap_counter", foreign.string());
  EXPECT_THAT(abi.message(), HasSubstr("built for SDK ABI"));
  std::string bytes = hive::test::readText(kSwapPlugins / "swap_v2-1.1.0.so");
  hive::test::writeText(pluginDir_ / "cut.so", bytes.substr(0, bytes.size() / 2));
  EXPECT_THAT(host->reload("swap_counter", (pluginDir_ / "cut.so").string()).message(),
              HasSubstr("truncated ELF file"));
  hive::test::writeText(pluginDir_ / "text.so", "not a library");
  EXPECT_THAT(host->reload("swap_counter", (pluginDir_ / "text.so").string()).message(),
              HasSubstr("not an ELF file"));
  // Another plugin's file.
  EXPECT_THAT(
      host->reload("swap_counter", (std::filesystem::path(HIVE_TEST_PLUGIN_DIR) / "solo-1.0.0.so").string())
          .message(),
      HasSubstr("holds plugin 'solo' 1.0.0, not plugin 'swap_counter'"));

  EXPECT_EQ(build(handle), "v1");
  EXPECT_EQ(handle.lease()->next(), ++expected);
  EXPECT_EQ(host->status()[0].generation, 1u);
  host->reapLibraries();
  EXPECT_EQ(hive::test::mappingsOf("memfd:hive-swap_counter-"), 1u) << "no failed generation stays mapped";
}

TEST_F(HotReloadTest, ALongHeldLeaseMakesTheSwapRollBackAtTheDeadline) {
  stage("swap_v1-1.0.0.so");
  auto host = startHost(std::chrono::milliseconds(200));
  auto handle = handleOf(*host);
  auto held = handle.lease();
  Status result = host->reload("swap_counter", stage("swap_v2-1.1.0.so"));
  EXPECT_THAT(result.message(),
              HasSubstr("1 leases of 'swap_counter' generation 1 still held after the drain deadline"));
  EXPECT_EQ(held->build(), "v1");
  held = {};
  EXPECT_EQ(build(handle), "v1");
  EXPECT_TRUE(host->reload("swap_counter", stage("swap_v2-1.1.0.so")).ok());
  EXPECT_EQ(build(handle), "v2");
}

// hive.swaps/1: a consumer told that a swap is coming lets its long lease go,
// and the swap goes on at once instead of failing at the drain deadline. The
// notice comes before the gate (a lease taken inside it does not block), and
// each kComing is followed by one kEnded, replaced or not.
TEST_F(HotReloadTest, AConsumerToldOfTheSwapLetsItsLeaseGoAndTheSwapGoesOn) {
  stage("swap_v1-1.0.0.so");
  auto host = startHost(std::chrono::seconds(30));
  auto handle = handleOf(*host);
  std::mutex mutex;
  ServiceRef<SwapCounter> held = handle.lease();
  std::vector<std::string> seen;
  auto watch = host->services().watchSwaps("test", [&](const SwapNotice& notice) {
    std::lock_guard lock(mutex);
    std::string line = notice.provider + "#" + std::to_string(notice.generation) +
                       (notice.phase == SwapPhase::kComing ? " coming" : " ended");
    if (notice.phase == SwapPhase::kComing) {
      line += " " + handle.lease()->build();  // not gated yet
      held = {};
    } else {
      line += notice.replaced ? " replaced" : " kept";
    }
    seen.push_back(line);
  });
  auto began = std::chrono::steady_clock::now();
  ASSERT_TRUE(host->reload("swap_counter", stage("swap_v2-1.1.0.so")).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(15))
      << "the swap waited for the lease until near the drain deadline (30 s)";
  EXPECT_EQ(build(handle), "v2");

  held = handle.lease();
  EXPECT_FALSE(host->reload("swap_counter", stage("swap_fail_start-1.2.0.so", "fail.so")).ok());
  EXPECT_EQ(build(handle), "v2");
  std::lock_guard lock(mutex);
  EXPECT_THAT(seen, ::testing::ElementsAre("swap_counter#1 coming v1", "swap_counter#1 ended replaced",
                                           "swap_counter#2 coming v2", "swap_counter#2 ended kept"));
}

TEST_F(HotReloadTest, AGenerationThatNeverDrainsIsReportedAsAZombie) {
  stage("swap_never_drains-1.2.0.so");
  auto host = startHost(std::chrono::milliseconds(100));
  auto handle = handleOf(*host);
  ASSERT_EQ(build(handle), "never_drains");
  ASSERT_TRUE(host->reload("swap_counter", stage("swap_v2-1.1.0.so")).ok());
  EXPECT_EQ(build(handle), "v2") << "the new generation serves";
  auto retired = host->retired();
  ASSERT_EQ(retired.size(), 1u);
  EXPECT_EQ(retired[0].state, "zombie");
  EXPECT_EQ(retired[0].reason, "drain deadline of 100 ms passed");
  EXPECT_TRUE(isImageMapped(retired[0].imageName));
  EXPECT_THAT(host->metrics().exposition(), HasSubstr("hive_plugin_zombies 1"));
  handle = {};
  host->stop();  // no crash: the zombie is stopped with the rest
}

TEST_F(HotReloadTest, IncompatibleMajorIsRefusedWhileAConsumerNeedsTheOldOne) {
  // beta needs alpha ^1.0 and its counter service: alpha 2.0.0 would break it.
  auto started = startAlphaAndBeta();
  ASSERT_TRUE(started);
  PluginHost& host = *started;
  Status refused =
      host.reload("alpha", (std::filesystem::path(HIVE_TEST_PLUGIN_DIR) / "alpha_v2-2.0.0.so").string());
  EXPECT_THAT(refused.message(), HasSubstr("running plugin 'beta' 1.0.0 needs 'alpha' ^1.0"));
  EXPECT_THAT(refused.message(),
              HasSubstr("no other file of 'beta' in the plugin directories could be swapped"));
  EXPECT_EQ(host.status()[0].version, "1.0.0");
  EXPECT_EQ(host.status()[1].version, "1.0.0");
  Status compatible =
      host.reload("alpha", (std::filesystem::path(HIVE_TEST_PLUGIN_DIR) / "alpha_v12-1.2.0.so").string());
  EXPECT_TRUE(compatible.ok()) << compatible.toString();
  EXPECT_EQ(host.status()[0].version, "1.2.0");
}

TEST_F(HotReloadTest, ANewMajorIsSwappedTogetherWithAConsumerThatAcceptsIt) {
  auto started = startAlphaAndBeta();
  ASSERT_TRUE(started);
  PluginHost& host = *started;

  // beta 2.0.0 (which needs alpha ^2.0) arrives with alpha 2.0.0.
  std::filesystem::copy_file(std::filesystem::path(HIVE_TEST_PLUGIN_DIR) / "alpha_v2-2.0.0.so",
                             pluginDir_ / "alpha_v2-2.0.0.so");
  std::filesystem::copy_file(kSwapPlugins / "beta_v2-2.0.0.so", pluginDir_ / "beta_v2-2.0.0.so");
  Status swapped = host.reload("alpha");
  ASSERT_TRUE(swapped.ok()) << swapped.toString();
  auto status = host.status();
  EXPECT_EQ(status[0].version, "2.0.0");
  EXPECT_EQ(status[0].generation, 2u);
  EXPECT_EQ(status[1].version, "2.0.0");
  EXPECT_EQ(status[1].generation, 2u);
  EXPECT_EQ(host.services().lookup({"test.counter", 1}).size(), 1u);
  host.reapLibraries();
  EXPECT_TRUE(host.retired().empty());
}

}  // namespace
}  // namespace hive::host
