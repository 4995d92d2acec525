// The kernel's lifecycle over real .so files loaded through the real loader.
#include "host/plugin_host.hpp"

#include <fcntl.h>

#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../plugins/counter_service.hpp"
#include "host/kernel_admin.hpp"
#include "host/logging.hpp"
#include "host/plugin_library.hpp"
#include "host/reload_controller.hpp"
#include "host/service_registry.hpp"
#include "test_support.hpp"

namespace hive::host {
namespace {

using hive::test::readText;
using hive::test::stagePlugins;
using hive::test::TempDirectory;
using ::testing::HasSubstr;

ConfigNode section(std::initializer_list<std::pair<std::string, std::string>> values) {
  ConfigNode node = ConfigNode::map({"hive.yaml", 10, 5});
  int line = 11;
  for (const auto& [key, value] : values) {
    node.set(key, ConfigNode::scalar(value, {"hive.yaml", line, 14}), {"hive.yaml", line, 7});
    ++line;
  }
  return node;
}

class PluginHostTest : public ::testing::Test {
 protected:
  PluginHostTest() : logs_(LogOutputFormat::kText, LogLevel::kWarn, logFd()) {}

  static int logFd() {
    static int fd = [] { return ::open("/dev/null", O_WRONLY | O_CLOEXEC); }();
    return fd;
  }

  PluginEntry& enable(const std::string& name,
                      std::initializer_list<std::pair<std::string, std::string>> values = {},
                      std::string range = "*") {
    PluginEntry entry;
    entry.name = name;
    entry.versionRange = std::move(range);
    entry.config = section(values);
    entry.config.set("trace_file", ConfigNode::scalar(trace_.string()));
    entry.location = {"hive.yaml", 9, 3};
    config_.plugins.push_back(std::move(entry));
    return config_.plugins.back();
  }

  std::unique_ptr<PluginHost> makeHost() {
    config_.pluginDirectories = {pluginDir_.string()};
    config_.dataDirectory = (dir_.path() / "data").string();
    config_.ioThreads = 2;
    config_.blockingThreads = 2;
    return std::make_unique<PluginHost>(config_, logs_);
  }

  std::vector<std::string> trace() const {
    std::vector<std::string> lines;
    std::istringstream in(readText(trace_));
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  static const PluginStatus& statusOf(const std::vector<PluginStatus>& all, const std::string& name) {
    for (const auto& s : all)
      if (s.name == name) return s;
    static PluginStatus none;
    ADD_FAILURE() << "no status for " << name;
    return none;
  }

  TempDirectory dir_;
  std::filesystem::path pluginDir_ = dir_.path() / "plugins";
  std::filesystem::path trace_ = dir_.path() / "trace.txt";
  KernelConfig config_;
  LogSystem logs_;
};

TEST_F(PluginHostTest, StartsInDependencyOrderAndStopsInReverse) {
  stagePlugins(pluginDir_, {"alpha-1.0.0.so", "beta-1.0.0.so", "gamma-1.0.0.so"});
  // Listed against dependency order on purpose.
  enable("gamma");
  enable("beta", {{"use_counter", "true"}});
  enable("alpha", {{"provide_counter", "true"}});
  auto host = makeHost();
  Diagnostics diagnostics;
  ASSERT_TRUE(host->load(diagnostics).ok()) << diagnostics.toString();
  ASSERT_TRUE(host->start().ok());
  for (const auto& s : host->status())
    EXPECT_EQ(s.state, PluginState::kStarted) << s.name << ": " << s.reason;
  host->stop();
  EXPECT_THAT(trace(),
              ::testing::ElementsAre("configure alpha", "configure beta", "configure gamma", "start alpha",
                                     "start beta", "counter 1 beta", "start gamma", "stop gamma", "stop beta",
                                     "stop alpha", "destroy gamma", "destroy beta", "destroy alpha"));
  for (const auto& s : host->status()) EXPECT_EQ(s.state, PluginState::kUnloaded) << s.name;
  host->stop();  // idempotent
}

TEST_F(PluginHostTest, SelectsTheHighestVersionInTheConfiguredRange) {
  stagePlugins(pluginDir_, {"alpha-1.0.0.so", "alpha_v12-1.2.0.so", "alpha_v2-2.0.0.so"});
  struct Case {
    std::string range;
    std::string expected;
  };
  for (const auto& c :
       std::vector<Case>{{"^1.0", "1.2.0"}, {"*", "2.0.0"}, {"~1.0", "1.0.0"}, {">=1.1 <2", "1.2.0"}}) {
    config_.plugins.clear();
    enable("alpha", {}, c.range);
    auto host = makeHost();
    Diagnostics diagnostics;
    ASSERT_TRUE(host->load(diagnostics).ok()) << diagnostics.toString();
    EXPECT_EQ(statusOf(host->status(), "alpha").version, c.expected) << c.range;
  }
  config_.plugins.clear();
  enable("alpha", {}, "^3");
  auto host = makeHost();
  Diagnostics diagnostics;
  ASSERT_TRUE(host->load(diagnostics).ok());
  EXPECT_EQ(statusOf(host->status(), "alpha").reason,
            "plugin 'alpha': no version satisfies '^3' (found 1.0.0, 1.2.0, 2.0.0)");
}

TEST_F(PluginHostTest, AFailedStartSkipsItsDependentsAndTheRestRuns) {
  stagePlugins(pluginDir_, {"alpha-1.0.0.so", "beta-1.0.0.so", "gamma-1.0.0.so", "solo-1.0.0.so"});
  enable("alpha", {{"fail_start", "true"}});
  enable("beta");
  enable("gamma");
  enable("solo");
  auto host = makeHost();
  Diagnostics diagnostics;
  ASSERT_TRUE(host->load(diagnostics).ok()) << diagnostics.toString();
  EXPECT_TRUE(host->start().ok()) << "no plugin is required";
  auto all = host->status();
  EXPECT_EQ(statusOf(all, "alpha").state, PluginState::kFailed);
  EXPECT_EQ(statusOf(all, "alpha").reason, "plugin 'alpha' 1.0.0: start failed: UNAVAILABLE: told to fail");
  EXPECT_EQ(statusOf(all, "beta").state, PluginState::kFailed);
  EXPECT_EQ(statusOf(all, "beta").reason, "plugin 'beta' not started: it depends on 'alpha', which failed");
  EXPECT_EQ(statusOf(all, "gamma").state, PluginState::kFailed);
  EXPECT_EQ(statusOf(all, "solo").state, PluginState::kStarted);
  host->stop();
  auto events = trace();
  EXPECT_EQ(std::count(events.begin(), events.end(), "start beta"), 0);
  EXPECT_EQ(std::count(events.begin(), events.end(), "stop solo"), 1);
}

TEST_F(PluginHostTest, ARequiredPluginThatFailsStopsTheStart) {
  stagePlugins(pluginDir_, {"alpha-1.0.0.so", "solo-1.0.0.so"});
  enable("solo");
  enable("alpha", {{"fail_start", "true"}}).required = true;
  auto host = makeHost();
  Diagnostics diagnostics;
  ASSERT_TRUE(host->load(diagnostics).ok());
  Status started = host->start();
  EXPECT_FALSE(started.ok());
  EXPECT_THAT(started.message(), HasSubstr("required plugin 'alpha' did not start"));
}

TEST_F(PluginHostTest, ResolutionRefusalsAreOneLineEachAndLocated) {
  stagePlugins(pluginDir_,
               {"alpha-1.0.0.so", "needs_missing-1.0.0.so", "needs_alpha2-1.0.0.so", "cycle_a-1.0.0.so",
                "cycle_b-1.0.0.so", "needs_service-1.0.0.so", "solo-1.0.0.so"});
  for (const char* name :
       {"alpha", "needs_missing", "needs_alpha2", "cycle_a", "cycle_b", "needs_service", "sollo"})
    enable(name);
  auto host = makeHost();
  Diagnostics diagnostics;
  ASSERT_TRUE(host->load(diagnostics).ok()) << "refusals of optional plugins are warnings";
  auto all = host->status();
  EXPECT_EQ(statusOf(all, "alpha").state, PluginState::kConfigured);
  EXPECT_EQ(statusOf(all, "needs_missing").reason,
            "plugin 'needs_missing' 1.0.0: depends on 'nonexistent' *, which is in no plugin directory");
  EXPECT_EQ(statusOf(all, "needs_alpha2").reason,
            "plugin 'needs_alpha2' 1.0.0: depends on 'alpha' ^2.0, but version 1.0.0 is enabled");
  EXPECT_THAT(statusOf(all, "cycle_a").reason, HasSubstr("dependency cycle: cycle_a -> cycle_b -> cycle_a"));
  EXPECT_THAT(statusOf(all, "cycle_b").reason, HasSubstr("dependency cycle: cycle_b -> cycle_a -> cycle_b"));
  EXPECT_EQ(
      statusOf(all, "needs_service").reason,
      "plugin 'needs_service' 1.0.0: requires service 'test.nothing/1', which no enabled plugin provides");
  EXPECT_EQ(statusOf(all, "sollo").reason,
            "plugin 'sollo': not found in the plugin directories (did you mean 'solo'?)");
  ASSERT_EQ(diagnostics.items().size(), 6u);
  for (const auto& d : diagnostics.items()) {
    EXPECT_EQ(d.severity, Severity::kWarning);
    EXPECT_EQ(d.location.toString(), "hive.yaml:9:3");
  }
}

// An enabled plugin whose file was refused at the scan says why, not "not
// found": the operator who dropped in a plugin built for a newer SDK sees it.
TEST_F(PluginHostTest, AnEnabledPluginWhoseFileWasRefusedSaysWhy) {
  stagePlugins(pluginDir_, {"abi_minor-1.0.0.so"});
  enable("abi_minor");
  auto host = makeHost();
  Diagnostics diagnostics;
  ASSERT_TRUE(host->load(diagnostics).ok());
  const std::string reason = statusOf(host->status(), "abi_minor").reason;
  EXPECT_THAT(reason, HasSubstr("plugin 'abi_minor': its file was refused: "));
  EXPECT_THAT(reason, HasSubstr("abi_minor-1.0.0.so: plugin 'abi_minor' 1.0.0: built for SDK ABI"));
  EXPECT_THAT(reason, HasSubstr("newer than the host's"));
}

// A missing dependency says which kind of missing: installed but not enabled,
// or installed nowhere.
TEST_F(PluginHostTest, AMissingDependencySaysWhetherItIsInstalled) {
  stagePlugins(pluginDir_, {"alpha-1.0.0.so", "needs_alpha2-1.0.0.so"});
  enable("needs_alpha2");
  auto host = makeHost();
  Diagnostics diagnostics;
  ASSERT_TRUE(host->load(diagnostics).ok());
  EXPECT_EQ(
      statusOf(host->status(), "needs_alpha2").reason,
      "plugin 'needs_alpha2' 1.0.0: depends on 'alpha' ^2.0, which is not enabled (add it under plugins:)");
}

TEST_F(PluginHostTest, ARequiredRefusedPluginFailsTheLoad) {
  stagePlugins(pluginDir_, {"needs_missing-1.0.0.so"});
  enable("needs_missing").required = true;
  auto host = makeHost();
  Diagnostics diagnostics;
  EXPECT_FALSE(host->load(diagnostics).ok());
  ASSERT_EQ(diagnostics.errorCount(), 1u);
  EXPECT_EQ(diagnostics.items()[0].toString(),
            "hive.yaml:9:3: error: required plugin 'needs_missing' 1.0.0: depends on 'nonexistent' *, which "
            "is in no "
            "plugin directory");
}

TEST_F(PluginHostTest, PluginConfigurationErrorsArePreciseAndStopTheLoad) {
  stagePlugins(pluginDir_, {"solo-1.0.0.so"});
  enable("solo", {{"limit", "0"}, {"fail_strat", "true"}, {"use_counter", "maybe"}});
  auto host = makeHost();
  Diagnostics diagnostics;
  Status loaded = host->load(diagnostics);
  EXPECT_FALSE(loaded.ok());
  ASSERT_EQ(diagnostics.errorCount(), 3u) << diagnostics.toString();
  EXPECT_EQ(diagnostics.items()[0].toString(),
            "hive.yaml:13:14: error: 'use_counter': expected true or false, got 'maybe'");
  EXPECT_EQ(diagnostics.items()[1].toString(), "hive.yaml:11:14: error: 'limit': must be at least 1");
  EXPECT_EQ(diagnostics.items()[2].toString(),
            "hive.yaml:12:7: error: unknown key 'fail_strat' (did you mean 'fail_start'?)");
  EXPECT_EQ(statusOf(host->status(), "solo").state, PluginState::kFailed);
}

TEST_F(PluginHostTest, AThrowingConstructorFailsThatPluginOnly) {
  stagePlugins(pluginDir_, {"throwing_ctor-1.0.0.so", "solo-1.0.0.so"});
  enable("throwing_ctor");
  enable("solo");
  auto host = makeHost();
  Diagnostics diagnostics;
  ASSERT_TRUE(host->load(diagnostics).ok());
  ASSERT_TRUE(host->start().ok());
  EXPECT_EQ(statusOf(host->status(), "throwing_ctor").reason,
            "plugin 'throwing_ctor' 1.0.0: constructor failed");
  EXPECT_EQ(statusOf(host->status(), "solo").state, PluginState::kStarted)
      << statusOf(host->status(), "solo").reason;
}

TEST_F(PluginHostTest, ProvidingAnUndeclaredServiceIsRefused) {
  stagePlugins(pluginDir_, {"solo-1.0.0.so"});
  enable("solo", {{"provide_undeclared", "true"}});
  auto host = makeHost();
  Diagnostics diagnostics;
  ASSERT_TRUE(host->load(diagnostics).ok());
  ASSERT_TRUE(host->start().ok());
  EXPECT_THAT(statusOf(host->status(), "solo").reason,
              HasSubstr("provides test.undeclared/1, which its manifest does not declare"));
}

TEST_F(PluginHostTest, APinnedProviderStaysMappedUntilItsLastLeaseGoes) {
  stagePlugins(pluginDir_, {"alpha-1.0.0.so"});
  enable("alpha", {{"provide_counter", "true"}});
  auto host = makeHost();
  Diagnostics diagnostics;
  ASSERT_TRUE(host->load(diagnostics).ok());
  ASSERT_TRUE(host->start().ok());
  std::string image = host->imageName("alpha");
  ASSERT_FALSE(image.empty());
  EXPECT_TRUE(isImageMapped(image));

  auto leases = host->services().lookup({"test.counter", 1});
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].provider, "alpha");
  auto counter = std::static_pointer_cast<hive::test::CounterService>(leases[0].service);
  leases.clear();
  EXPECT_EQ(counter->next(), 1);

  ASSERT_TRUE(host->unload("alpha").ok());
  EXPECT_TRUE(host->services().lookup({"test.counter", 1}).empty()) << "withdrawn at stop";
  EXPECT_TRUE(host->reapLibraries().empty());
  EXPECT_TRUE(isImageMapped(image)) << "a lease pins the library";
  EXPECT_EQ(counter->next(), 2) << "the pinned code is still callable";

  counter.reset();
  auto closed = host->reapLibraries();
  EXPECT_THAT(closed, ::testing::ElementsAre(image));
  EXPECT_FALSE(isImageMapped(image)) << "unmapped once the last lease went";
}

TEST_F(PluginHostTest, LoadingTheSameFileTwiceMapsTwoPrivateCopies) {
  stagePlugins(pluginDir_, {"solo-1.0.0.so"});
  enable("solo");
  auto first = makeHost();
  auto second = makeHost();
  Diagnostics diagnostics;
  ASSERT_TRUE(first->load(diagnostics).ok());
  ASSERT_TRUE(second->load(diagnostics).ok());
  EXPECT_NE(first->imageName("solo"), second->imageName("solo"));
  EXPECT_TRUE(isImageMapped(first->imageName("solo")));
  EXPECT_TRUE(isImageMapped(second->imageName("solo")));
  // The build output can be rewritten in place while mapped copies run.
  hive::test::writeText(pluginDir_ / "solo-1.0.0.so", "overwritten");
  std::string image = first->imageName("solo");
  first->stop();
  EXPECT_FALSE(isImageMapped(image));
  EXPECT_TRUE(isImageMapped(second->imageName("solo")));
}

TEST_F(PluginHostTest, KernelAdminServiceReportsPluginsAndReloadsOnceAttached) {
  stagePlugins(pluginDir_, {"alpha-1.0.0.so"});
  enable("alpha");
  auto host = makeHost();
  Diagnostics diagnostics;
  ASSERT_TRUE(host->load(diagnostics).ok()) << diagnostics.toString();
  auto provided = KernelAdmin::provide(*host);
  ASSERT_TRUE(provided.ok()) << provided.status().toString();
  ASSERT_TRUE(host->start().ok());

  auto leases = host->services().lookup({"hive.admin", 1});
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].provider, "kernel");
  auto kernel = std::static_pointer_cast<admin::Kernel>(leases[0].service);
  EXPECT_EQ(kernel->phase(), admin::Phase::kStarting);
  auto plugins = kernel->plugins();
  ASSERT_EQ(plugins.size(), 1u);
  EXPECT_EQ(plugins[0].name, "alpha");
  EXPECT_EQ(plugins[0].version, "1.0.0");
  EXPECT_EQ(plugins[0].state, "started");
  std::uint64_t generation = plugins[0].generation;
  EXPECT_EQ(kernel->reloadPlugin("alpha").code(), StatusCode::kUnavailable) << "no controller yet";

  hive::test::RecordingLogger log;
  ReloadController reloads(*host, {{}, std::chrono::milliseconds(20), false}, log);
  (*provided)->attach(&reloads);
  (*provided)->setPhase(admin::Phase::kReady);
  EXPECT_EQ(kernel->phase(), admin::Phase::kReady);
  Status reloaded = kernel->reloadPlugin("alpha");
  EXPECT_TRUE(reloaded.ok()) << reloaded.toString();
  EXPECT_EQ(kernel->plugins()[0].generation, generation + 1);
  EXPECT_FALSE(kernel->reloadPlugin("no_such_plugin").ok());
  (*provided)->attach(nullptr);
  EXPECT_EQ(kernel->reloadConfig().code(), StatusCode::kUnavailable);
  leases.clear();
  kernel.reset();
  host->stop();
}

// What POST /api/v2/admin/plugins/api/reload relies on: startReload() returns
// at once, the kernel swaps on its own thread, and the record tells the outcome.
TEST_F(PluginHostTest, KernelAdminStartsReloadsOnItsOwnThreadAndRecordsTheirOutcome) {
  stagePlugins(pluginDir_, {"alpha-1.0.0.so"});
  enable("alpha");
  auto host = makeHost();
  Diagnostics diagnostics;
  ASSERT_TRUE(host->load(diagnostics).ok()) << diagnostics.toString();
  auto admin = KernelAdmin::provide(*host);
  ASSERT_TRUE(admin.ok()) << admin.status().toString();
  ASSERT_TRUE(host->start().ok());
  EXPECT_EQ((*admin)->startReload("alpha").status().code(), StatusCode::kUnavailable) << "no controller yet";

  hive::test::RecordingLogger log;
  ReloadController reloads(*host, {{}, std::chrono::milliseconds(20), false}, log);
  (*admin)->attach(&reloads);
  EXPECT_EQ((*admin)->startReload("no_such_plugin").status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*admin)->reloadRecord(12345).status().code(), StatusCode::kNotFound);
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 3; ++i) {
    auto id = (*admin)->startReload("alpha");
    ASSERT_TRUE(id.ok()) << id.status().toString();
    ids.push_back(*id);
  }
  auto finished = [&](std::uint64_t id) {
    auto record = (*admin)->reloadRecord(id);
    return record.ok() && (record->state == admin::ReloadRecord::State::kSwapped ||
                           record->state == admin::ReloadRecord::State::kFailed);
  };
  for (int wait = 0; wait < 600 && !finished(ids.back()); ++wait)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto record = (*admin)->reloadRecord(ids[i]);
    ASSERT_TRUE(record.ok());
    EXPECT_EQ(record->plugin, "alpha");
    EXPECT_EQ(record->state, admin::ReloadRecord::State::kSwapped) << record->error;
    // One at a time, in order: each one generation above the one before.
    EXPECT_EQ(record->generationAfter, 2 + i);
  }
  EXPECT_EQ(host->status()[0].generation, 4u);
  (*admin)->attach(nullptr);
  (*admin)->stop();
  host->stop();
}

}  // namespace
}  // namespace hive::host
