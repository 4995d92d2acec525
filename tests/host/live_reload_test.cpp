// Live changes through their real triggers: files dropped into a watched
// plugin directory (mv and in-place cp), config file edits (including an
// editor's atomic rename), and the control socket.
#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../plugins/swap_counter_service.hpp"
#include "host/config/kernel_config.hpp"
#include "host/control_socket.hpp"
#include "host/logging.hpp"
#include "host/metrics.hpp"
#include "host/plugin_host.hpp"
#include "host/reload_controller.hpp"
#include "host/service_registry.hpp"
#include "swap_load.hpp"
#include "test_support.hpp"

namespace hive::host {
namespace {

namespace fs = std::filesystem;
using hive::test::SwapCounter;
using hive::test::TempDirectory;
using hive::test::writeText;
using ::testing::HasSubstr;

const fs::path kSwapPlugins = fs::path(HIVE_BINARY_DIR) / "swap_plugins";
const fs::path kTestPlugins = fs::path(HIVE_TEST_PLUGIN_DIR);

template <typename Predicate>
bool eventually(Predicate predicate, std::chrono::seconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return predicate();
}

class LiveReloadTest : public ::testing::Test {
 protected:
  LiveReloadTest() : logs_(LogOutputFormat::kText, LogLevel::kCritical, devNull()) {
    fs::create_directories(pluginDir_);
  }

  static int devNull() {
    static int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    return fd;
  }

  void writeConfig(const std::string& plugins, const std::string& extra = "") {
    writeText(configPath_,
              "hive:\n  plugin_dirs: [plugins]\n  data_dir: data\n  drain_deadline: 5s\n  control_socket: " +
                  (dir_.path() / "run" / "hive.sock").string() + "\n" + extra + "plugins:\n" + plugins);
  }

  void startHive(bool watchFiles = true) {
    Diagnostics diagnostics;
    auto config = loadKernelConfig(layers_, diagnostics);
    ASSERT_TRUE(config.ok()) << diagnostics.toString();
    host_ = std::make_unique<PluginHost>(std::move(config).value(), logs_);
    ASSERT_TRUE(host_->load(diagnostics).ok()) << diagnostics.toString();
    ASSERT_TRUE(host_->start().ok());
    log_ = logs_.logger("reload");
    controller_ = std::make_unique<ReloadController>(
        *host_, ReloadController::Options{layers_, std::chrono::milliseconds(50), watchFiles}, *log_);
    ASSERT_TRUE(controller_->start().ok());
  }

  void stopHive() {
    if (controller_) controller_->stop();
    if (host_) host_->stop();
    controller_.reset();
    host_.reset();
  }

  ~LiveReloadTest() override { stopHive(); }

  const PluginStatus statusOf(const std::string& name) {
    for (const auto& s : host_->status())
      if (s.name == name) return s;
    return {};
  }

  double metric(const std::string& series) {
    std::istringstream text(host_->metrics().exposition());
    for (std::string line; std::getline(text, line);)
      if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
    return -1;
  }

  TempDirectory dir_;
  fs::path pluginDir_ = dir_.path() / "plugins";
  std::string configPath_ = dir_ / "hive.yaml";
  std::vector<std::string> layers_{configPath_};  // `-c` files, in order
  LogSystem logs_;
  std::unique_ptr<Logger> log_;
  std::unique_ptr<PluginHost> host_;
  std::unique_ptr<ReloadController> controller_;
};

TEST_F(LiveReloadTest, FilesDroppedIntoTheWatchedDirectorySwapUnderLoad) {
  fs::copy_file(kSwapPlugins / "swap_v1-1.0.0.so", pluginDir_ / "swap_counter.so");
  writeConfig("  swap_counter: {}\n");
  std::size_t fdsBefore = hive::test::openFds();
  startHive();
  auto slot = host_->services().slot({"test.swap_counter", 1}, "swap_counter");
  ASSERT_TRUE(slot.ok());
  ServiceHandle<SwapCounter> handle(*slot);

  hive::test::SwapLoad load(handle, 8);

  const int kSwaps = 50;
  const char* builds[] = {"swap_v2-1.1.0.so", "swap_v1-1.0.0.so"};
  for (int swap = 0; swap < kSwaps; ++swap) {
    fs::path source = kSwapPlugins / builds[swap % 2];
    if (swap % 2 == 0) {
      // An installer: write beside, then rename over (one IN_MOVED_TO).
      fs::copy_file(source, pluginDir_ / ".swap_counter.so.part", fs::copy_options::overwrite_existing);
      fs::rename(pluginDir_ / ".swap_counter.so.part", pluginDir_ / "swap_counter.so");
    } else {
      // A build writing in place over the file Hive loaded from.
      fs::copy_file(source, pluginDir_ / "swap_counter.so", fs::copy_options::overwrite_existing);
    }
    std::uint64_t want = static_cast<std::uint64_t>(swap) + 2;
    ASSERT_TRUE(eventually([&] { return statusOf("swap_counter").generation == want; }))
        << "swap " << swap << " not picked up; generation " << statusOf("swap_counter").generation
        << ", last error: " << statusOf("swap_counter").lastReloadError;
  }
  load.stop();

  EXPECT_EQ(load.failures(), 0);
  EXPECT_EQ(load.regressions(), 0);
  EXPECT_EQ(handle.lease()->next(), load.calls() + 1) << "the counter state was carried across every swap";
  EXPECT_EQ(handle.lease()->build(), "v1");
  EXPECT_GT(load.calls(), 0);
  host_->reapLibraries();
  EXPECT_LE(hive::test::mappingsOf("memfd:hive-swap_counter-"), 1u);
  handle = {};
  slot = Status();
  stopHive();
  EXPECT_EQ(hive::test::mappingsOf("memfd:hive-swap_counter-"), 0u);
  EXPECT_EQ(hive::test::openFds(), fdsBefore);
}

TEST_F(LiveReloadTest, ABrokenFileInTheWatchedDirectoryChangesNothing) {
  fs::copy_file(kSwapPlugins / "swap_v1-1.0.0.so", pluginDir_ / "swap_counter.so");
  writeConfig("  swap_counter: {}\n");
  startHive();
  std::string bytes = hive::test::readText(kSwapPlugins / "swap_v2-1.1.0.so");
  writeText(pluginDir_ / "swap_counter.so", bytes.substr(0, bytes.size() / 3));
  ASSERT_TRUE(eventually([&] { return metric("hive_plugin_file_refusals_total") >= 1; }));
  EXPECT_EQ(statusOf("swap_counter").generation, 1u);
  auto lease = host_->services().lookup({"test.swap_counter", 1});
  ASSERT_EQ(lease.size(), 1u);
  EXPECT_EQ(std::static_pointer_cast<SwapCounter>(lease[0].service)->build(), "v1");
}

TEST_F(LiveReloadTest, ConfigReloadAppliesEnableDisableAndRejectsBadInputWhole) {
  for (const char* f : {"solo-1.0.0.so", "alpha-1.0.0.so"}) fs::copy_file(kTestPlugins / f, pluginDir_ / f);
  writeConfig("  solo:\n    config: {limit: 3}\n");
  startHive(false);  // reloads only when asked, so that each step is one reload
  ASSERT_EQ(statusOf("solo").state, PluginState::kStarted);

  // Invalid YAML, an unknown key, a plugin rejecting its new section: all rejected.
  for (const std::string& broken :
       {std::string("  solo: {config: {limit: 3}\n"), std::string("  solo:\n    enabeld: true\n"),
        std::string("  solo:\n    config: {limit: 0}\n")}) {
    writeConfig(broken);
    Status result = controller_->reloadConfig();
    EXPECT_FALSE(result.ok()) << broken;
    EXPECT_EQ(statusOf("solo").state, PluginState::kStarted);
    EXPECT_EQ(statusOf("solo").generation, 1u);
    EXPECT_EQ(metric("hive_config_last_reload_successful"), 0);
  }
  EXPECT_EQ(metric("hive_config_reloads_total{result=\"invalid\"}"), 2);
  EXPECT_EQ(metric("hive_config_reloads_total{result=\"rejected\"}"), 1);

  // A changed section (solo cannot reconfigure live: it is swapped), a new plugin.
  writeConfig("  solo:\n    config: {limit: 5}\n  alpha:\n    config: {provide_counter: true}\n");
  Status applied = controller_->reloadConfig();
  ASSERT_TRUE(applied.ok()) << applied.toString();
  EXPECT_EQ(statusOf("solo").generation, 2u) << statusOf("solo").lastReloadError;
  EXPECT_EQ(statusOf("alpha").state, PluginState::kStarted);
  EXPECT_EQ(host_->services().lookup({"test.counter", 1}).size(), 1u);
  EXPECT_EQ(metric("hive_config_last_reload_successful"), 1);

  // Disabled and removed.
  writeConfig("  solo:\n    enabled: false\n");
  ASSERT_TRUE(controller_->reloadConfig().ok());
  EXPECT_NE(statusOf("solo").state, PluginState::kStarted);
  EXPECT_NE(statusOf("alpha").state, PluginState::kStarted);
  EXPECT_TRUE(host_->services().lookup({"test.counter", 1}).empty());
}

TEST_F(LiveReloadTest, PluginsEnabledByAReloadStartAfterWhatTheyNeed) {
  for (const char* f : {"alpha-1.0.0.so", "beta-1.0.0.so", "needs_missing-1.0.0.so"})
    fs::copy_file(kTestPlugins / f, pluginDir_ / f);
  writeConfig("  alpha:\n    enabled: false\n");
  startHive(false);
  // beta is listed before alpha, which it depends on and whose service it needs.
  writeConfig(
      "  beta:\n    config: {use_counter: true}\n  alpha:\n    config: {provide_counter: true}\n"
      "  needs_missing: {}\n");
  Status applied = controller_->reloadConfig();
  ASSERT_TRUE(applied.ok()) << applied.toString();
  EXPECT_EQ(statusOf("alpha").state, PluginState::kStarted);
  EXPECT_EQ(statusOf("beta").state, PluginState::kStarted);
  EXPECT_NE(statusOf("needs_missing").state, PluginState::kStarted);
}

TEST_F(LiveReloadTest, AChangeToAnyLayerReloadsThemAllAndTheOverlayStillWins) {
  fs::copy_file(kTestPlugins / "solo-1.0.0.so", pluginDir_ / "solo-1.0.0.so");
  writeConfig("  solo:\n    config: {limit: 3}\n");
  std::string overlay = (dir_.path() / "overlays" / "production.yaml").string();
  fs::create_directories(dir_.path() / "overlays");
  writeText(overlay, "plugins:\n  solo:\n    config: {limit: 4}\n");
  layers_ = {configPath_, overlay};
  startHive();
  ASSERT_EQ(statusOf("solo").generation, 1u);

  // The overlay, in a directory of its own, is watched: solo's section changes.
  writeText(overlay, "plugins:\n  solo:\n    config: {limit: 9}\n");
  ASSERT_TRUE(eventually([&] { return metric("hive_config_reloads_total{result=\"applied\"}") >= 1; }));
  EXPECT_EQ(statusOf("solo").generation, 2u) << statusOf("solo").lastReloadError;

  // The base is re-read too, but its limit is still overridden: nothing to swap.
  writeConfig("  solo:\n    config: {limit: 8}\n");
  ASSERT_TRUE(eventually([&] { return metric("hive_config_reloads_total{result=\"applied\"}") >= 2; }));
  EXPECT_EQ(statusOf("solo").generation, 2u);
}

TEST_F(LiveReloadTest, AnEditorsAtomicRenameIsPickedUpOnce) {
  fs::copy_file(kTestPlugins / "solo-1.0.0.so", pluginDir_ / "solo-1.0.0.so");
  writeConfig("  solo: {}\n");
  startHive();
  std::string next = dir_ / ".hive.yaml.swp";
  writeText(next, "hive:\n  plugin_dirs: [plugins]\n  data_dir: data\n  control_socket: " +
                      (dir_.path() / "run" / "hive.sock").string() +
                      "\nplugins:\n  solo:\n    config: {limit: 7}\n");
  fs::rename(next, configPath_);
  ASSERT_TRUE(eventually([&] { return metric("hive_config_reloads_total{result=\"applied\"}") >= 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // anything more would have shown by now
  EXPECT_EQ(metric("hive_config_reloads_total{result=\"applied\"}"), 1);
  EXPECT_EQ(statusOf("solo").generation, 2u);
}

TEST_F(LiveReloadTest, TheControlSocketAnswersOnlyItsOwner) {
  fs::copy_file(kSwapPlugins / "swap_v1-1.0.0.so", pluginDir_ / "swap_counter.so");
  writeConfig("  swap_counter: {}\n");
  startHive();
  std::string socket = (dir_.path() / "run" / "hive.sock").string();
  struct stat st {};
  ASSERT_EQ(::stat(socket.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);

  auto status = sendControlCommand(socket, "plugins status");
  ASSERT_TRUE(status.ok()) << status.status().toString();
  EXPECT_THAT(*status, ::testing::StartsWith("ok\n"));
  EXPECT_THAT(
      *status,
      HasSubstr("\"name\":\"swap_counter\",\"version\":\"1.0.0\",\"state\":\"started\",\"generation\":1"));

  fs::copy_file(kSwapPlugins / "swap_v2-1.1.0.so", dir_.path() / "v2.so");
  controller_->stop();  // no watcher: the command alone must do it
  controller_ = std::make_unique<ReloadController>(
      *host_, ReloadController::Options{{configPath_}, std::chrono::milliseconds(50), false}, *log_);
  ASSERT_TRUE(controller_->start().ok());
  fs::copy_file(kSwapPlugins / "swap_v2-1.1.0.so", pluginDir_ / "swap_counter.so",
                fs::copy_options::overwrite_existing);
  EXPECT_EQ(*sendControlCommand(socket, "plugins reload swap_counter"), "ok\n");
  EXPECT_EQ(statusOf("swap_counter").version, "1.1.0");
  EXPECT_THAT(*sendControlCommand(socket, "plugins reload nothing"),
              HasSubstr("error: no plugin named 'nothing'"));
  EXPECT_THAT(*sendControlCommand(socket, "make coffee"), HasSubstr("error: unknown command"));
  EXPECT_THAT(*sendControlCommand(socket, std::string(5000, 'x')),
              HasSubstr("error: command longer than 4096 bytes"));
  EXPECT_EQ(*sendControlCommand(socket, "plugins rescan"), "ok\n") << "nothing changed: nothing to do";
  EXPECT_EQ(statusOf("swap_counter").generation, 2u);

  // A second kernel on the same socket is refused; a stale socket file is replaced.
  ControlServer second(
      socket, [](const std::string&) { return std::string("ok\n"); }, *log_);
  EXPECT_EQ(second.start().code(), StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace hive::host
