// The SDK's test harness, on plugins defined here and on real libraries.
#include "hive/testing/harness.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "echo.hpp"

namespace {

using hive::testing::configFromPairs;
using hive::testing::PluginHarness;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class Greeter : public hive::Service {
 public:
  static constexpr hive::ServiceId kServiceId{"example.greeter", 1};
  virtual std::string greet(const std::string& who) = 0;
};

class Clock : public hive::Service {
 public:
  static constexpr hive::ServiceId kServiceId{"example.clock", 1};
  virtual int hour() = 0;
};

class FixedClock final : public Clock {
 public:
  explicit FixedClock(int hour) : hour_(hour) {}
  int hour() override { return hour_; }

 private:
  int hour_;
};

// Uses what a real plugin uses: config, a required service, a provided one, a
// timer that posts to io(), a watch, metrics and logs.
class GreeterPlugin final : public hive::Plugin {
 public:
  explicit GreeterPlugin(hive::PluginContext& context) : context_(context) {}

  void configure(const hive::ConfigNode& section, hive::Diagnostics& diagnostics) override {
    hive::ConfigReader reader(section, diagnostics);
    greeting_ = reader.get<std::string>("greeting", "Hello");
    period_ = reader.get<milliseconds>("heartbeat", seconds(30));
    if (greeting_.empty()) reader.reject("greeting", "must not be empty");
    reader.finish();
  }

  hive::Status start() override {
    auto clock = HIVE_TRY(context_.services().get<Clock>(), "greeter needs a clock");
    context_.log().info("started at hour " + std::to_string(clock->hour()));
    clockWatch_ = context_.services().watch(Clock::kServiceId, [this](const hive::ServiceEvent& event) {
      static constexpr const char* kChanges[] = {"added", "removed", "replaced"};
      context_.log().info(std::string("clock ") + kChanges[static_cast<int>(event.change)] + " by " +
                          event.provider);
    });
    class Impl final : public Greeter {
     public:
      Impl(std::string greeting, hive::Counter& count) : greeting_(std::move(greeting)), count_(count) {}
      std::string greet(const std::string& who) override {
        count_.increment();
        return greeting_ + ", " + who + "!";
      }

     private:
      std::string greeting_;
      hive::Counter& count_;
    };
    HIVE_TRY(context_.services().provide<Greeter>(
        std::make_shared<Impl>(greeting_, context_.metrics().counter("greetings_total", "Greetings"))));
    heartbeat_ = context_.timers().every(period_, [this] {
      context_.io().post([this] { context_.log().info("heartbeat " + std::to_string(++beats_)); });
    });
    return hive::okStatus();
  }

  void stop() override {
    heartbeat_.reset();
    clockWatch_.reset();
    context_.log().info("stopped");
  }

 private:
  hive::PluginContext& context_;
  std::string greeting_;
  milliseconds period_{0};
  std::unique_ptr<hive::Timer> heartbeat_;
  std::unique_ptr<hive::Subscription> clockWatch_;
  int beats_ = 0;
};

// A plugin that does nothing, for tests that drive the fakes through context().
class IdlePlugin final : public hive::Plugin {
 public:
  explicit IdlePlugin(hive::PluginContext&) {}
  void configure(const hive::ConfigNode&, hive::Diagnostics&) override {}
  hive::Status start() override { return hive::okStatus(); }
  void stop() override {}
};

bool mapped(const std::string& fileName) {
  std::ifstream maps("/proc/self/maps");
  std::string text((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
  return text.find(fileName) != std::string::npos;
}

TEST(HarnessTest, DrivesALinkedPluginThroughItsLifecycle) {
  auto harness = PluginHarness::create<GreeterPlugin>("greeter", "1.0.0");
  EXPECT_EQ(harness->manifest(), nullptr);
  EXPECT_EQ(harness->context().pluginName(), "greeter");
  EXPECT_EQ(harness->context().pluginVersion(), "1.0.0");
  harness->setConfig(configFromPairs({{"greeting", "Hi"}, {"heartbeat", "10s"}}));
  ASSERT_FALSE(harness->configure().hasErrors());

  hive::Status withoutClock = harness->start();
  EXPECT_EQ(withoutClock.code(), hive::StatusCode::kNotFound);
  EXPECT_THAT(withoutClock.message(),
              HasSubstr("greeter needs a clock: no provider of service example.clock/1"));
  EXPECT_FALSE(harness->started());

  harness->provideFake<Clock>(std::make_shared<FixedClock>(9));
  ASSERT_TRUE(harness->start().ok());
  EXPECT_TRUE(harness->started());
  EXPECT_TRUE(harness->health().ok());

  auto greeter = harness->services().get<Greeter>();
  ASSERT_TRUE(greeter.ok());
  EXPECT_EQ(greeter->provider(), "greeter");
  EXPECT_EQ((*greeter)->greet("Ada"), "Hi, Ada!");
  EXPECT_EQ(harness->metrics().counter("greetings_total", "").value(), 1.0);

  harness->advanceTime(seconds(25));
  EXPECT_EQ(harness->now(), seconds(25));
  harness->stop();
  EXPECT_THAT(harness->logLines(), ElementsAre("info: started at hour 9", "info: heartbeat 1",
                                               "info: heartbeat 2", "info: stopped"));
  harness->advanceTime(seconds(60));
  EXPECT_EQ(harness->logLines().size(), 4u) << "no heartbeat after stop";
}

TEST(HarnessTest, ReportsEveryConfigurationError) {
  auto harness = PluginHarness::create<GreeterPlugin>("greeter");
  harness->setConfig(configFromPairs({{"greeting", ""}, {"heartbat", "1s"}}));
  auto diagnostics = harness->configure();
  ASSERT_EQ(diagnostics.errorCount(), 2u);
  EXPECT_THAT(diagnostics.toString(), HasSubstr("<config>: error: 'greeting': must not be empty"));
  EXPECT_THAT(diagnostics.toString(), HasSubstr("unknown key 'heartbat' (did you mean 'heartbeat'?)"));
  harness->provideFake<Clock>(std::make_shared<FixedClock>(9));
  EXPECT_EQ(harness->start().code(), hive::StatusCode::kInvalidArgument)
      << "a rejected config is never started";
}

TEST(HarnessTest, KeepsTheLocationsOfAHandBuiltSection) {
  auto harness = PluginHarness::create<GreeterPlugin>("greeter");
  auto section = hive::ConfigNode::map({"hive.yaml", 3, 5});
  section.set("heartbeat", hive::ConfigNode::scalar("soon", {"hive.yaml", 4, 18}), {"hive.yaml", 4, 7});
  harness->setConfig(section);
  EXPECT_THAT(harness->configure().toString(),
              HasSubstr("hive.yaml:4:18: error: 'heartbeat': expected a duration"));
  EXPECT_EQ(harness->context().config().find("heartbeat")->text(), "soon");
}

TEST(HarnessTest, StartConfiguresFirstLikeTheKernel) {
  auto harness = PluginHarness::create<GreeterPlugin>("greeter");
  harness->provideFake<Clock>(std::make_shared<FixedClock>(7));
  harness->setConfig(configFromPairs({{"greeting", ""}}));
  hive::Status refused = harness->start();
  EXPECT_EQ(refused.code(), hive::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("'greeting': must not be empty"));

  harness->setConfig(configFromPairs({{"greeting", "Yo"}}));
  ASSERT_TRUE(harness->start().ok());
  EXPECT_EQ((*harness->services().get<Greeter>())->greet("Bo"), "Yo, Bo!");
  EXPECT_EQ(harness->start().code(), hive::StatusCode::kFailedPrecondition) << "already started";
}

TEST(HarnessTest, StopWithdrawsThePluginsServicesButNotTheFakes) {
  auto harness = PluginHarness::create<GreeterPlugin>("greeter");
  harness->provideFake<Clock>(std::make_shared<FixedClock>(9));
  std::vector<std::string> events;
  auto watch = harness->services().watch(Greeter::kServiceId, [&](const hive::ServiceEvent& event) {
    events.push_back(event.id.toString() + " " + event.provider + " " +
                     (event.change == hive::ServiceChange::kAdded ? "added" : "removed"));
  });
  ASSERT_TRUE(harness->start().ok());
  EXPECT_THAT(events, ElementsAre("example.greeter/1 greeter added")) << "watchers run synchronously";
  harness->stop();
  EXPECT_THAT(events, ElementsAre("example.greeter/1 greeter added", "example.greeter/1 greeter removed"));
  EXPECT_FALSE(harness->services().get<Greeter>().ok());
  EXPECT_TRUE(harness->services().get<Clock>().ok());
  ASSERT_TRUE(harness->start().ok()) << "restartable";
}

TEST(HarnessTest, AFakeCanBeReplacedAndWithdrawnLikeASwappedPlugin) {
  auto harness = PluginHarness::create<GreeterPlugin>("greeter");
  harness->provideFake<Clock>(std::make_shared<FixedClock>(9), "clock_plugin");
  ASSERT_TRUE(harness->start().ok());
  auto before = harness->services().get<Clock>();
  harness->provideFake<Clock>(std::make_shared<FixedClock>(10), "clock_plugin");
  auto after = harness->services().get<Clock>();
  EXPECT_EQ((*after)->hour(), 10);
  EXPECT_EQ((*before)->hour(), 9) << "an old reference keeps its generation";
  EXPECT_EQ(after->generation(), before->generation() + 1);
  EXPECT_TRUE(harness->withdrawFake<Clock>("clock_plugin"));
  EXPECT_FALSE(harness->withdrawFake<Clock>("clock_plugin"));
  harness->stop();
  harness->provideFake<Clock>(std::make_shared<FixedClock>(11), "clock_plugin");
  EXPECT_THAT(harness->logLines(),
              ElementsAre("info: started at hour 9", "info: clock replaced by clock_plugin",
                          "info: clock removed by clock_plugin", "info: stopped"))
      << "the plugin's watch is cancelled when it stops";
}

TEST(HarnessTest, TimersFireInOrderOnTheManualClock) {
  auto harness = PluginHarness::create<IdlePlugin>("idle");
  auto& timers = harness->context().timers();
  std::vector<std::string> fired;
  auto a =
      timers.after(milliseconds(5), [&] { fired.push_back("a@" + std::to_string(harness->now().count())); });
  auto b =
      timers.every(milliseconds(3), [&] { fired.push_back("b@" + std::to_string(harness->now().count())); });
  auto c =
      timers.after(milliseconds(3), [&] { fired.push_back("c@" + std::to_string(harness->now().count())); });
  std::unique_ptr<hive::Timer> armedLater;
  auto d = timers.after(milliseconds(1), [&] {
    harness->context().io().post([&] {
      armedLater = timers.after(milliseconds(1),
                                [&] { fired.push_back("e@" + std::to_string(harness->now().count())); });
    });
  });
  harness->advanceTime(milliseconds(2));
  EXPECT_THAT(fired, ElementsAre("e@2"))
      << "work posted by a timer runs before later timers, and may arm them";
  harness->advanceTime(milliseconds(4));
  EXPECT_THAT(fired, ElementsAre("e@2", "b@3", "c@3", "a@5", "b@6"));
  b.reset();
  harness->advanceTime(seconds(1));
  EXPECT_EQ(fired.size(), 5u) << "a destroyed handle cancels its timer";
}

TEST(HarnessTest, RunPendingRunsIoAndBlockingWorkUntilNoneIsLeft) {
  auto harness = PluginHarness::create<IdlePlugin>("idle");
  auto& context = harness->context();
  std::vector<std::string> ran;
  context.io().post([&] {
    ran.push_back("io");
    context.blocking().post([&] {
      ran.push_back("blocking");
      context.io().post([&] { ran.push_back("io again"); });
    });
  });
  EXPECT_TRUE(ran.empty()) << "post never runs inline";
  EXPECT_EQ(harness->runPending(), 3u);
  EXPECT_THAT(ran, ElementsAre("io", "blocking", "io again"));
  EXPECT_EQ(harness->runPending(), 0u);
}

TEST(HarnessTest, MetricsFollowTheKernelsRules) {
  auto harness = PluginHarness::create<IdlePlugin>("idle");
  auto& metrics = harness->context().metrics();
  metrics.counter("jobs_total", "Jobs done", {{"queue", "fast"}}).increment(2);
  EXPECT_EQ(&metrics.counter("jobs_total", "", {{"queue", "fast"}}),
            &harness->metrics().counter("jobs_total", "", {{"queue", "fast"}}));
  EXPECT_EQ(harness->metrics().counter("jobs_total", "", {{"queue", "fast"}}).value(), 2.0);
  metrics.gauge("jobs_total", "clash").set(5);  // another kind under a used name
  metrics.counter("bad name", "").increment();
  metrics.histogram("latency_seconds", "Latency", {0.1, 1}).observe(0.5);

  std::string text = harness->metrics().exposition();
  EXPECT_THAT(text, HasSubstr("# TYPE jobs_total counter\njobs_total{queue=\"fast\"} 2\n"));
  EXPECT_THAT(
      text,
      HasSubstr("latency_seconds_bucket{le=\"0.1\"} 0\nlatency_seconds_bucket{le=\"1\"} 1\n"
                "latency_seconds_bucket{le=\"+Inf\"} 1\nlatency_seconds_sum 0.5\nlatency_seconds_count 1\n"));
  EXPECT_EQ(text.find("clash"), std::string::npos);
  EXPECT_EQ(text.find("bad name"), std::string::npos);
  EXPECT_THAT(harness->logLines(),
              ElementsAre(HasSubstr("'jobs_total' already exists"), HasSubstr("'bad name'")));
}

TEST(HarnessTest, EachHarnessHasAFreshDataDirectory) {
  std::string first;
  {
    auto one = PluginHarness::create<IdlePlugin>("idle");
    auto two = PluginHarness::create<IdlePlugin>("idle");
    first = one->context().dataDirectory();
    EXPECT_TRUE(std::filesystem::is_directory(first));
    EXPECT_NE(first, two->context().dataDirectory());
    std::ofstream(std::filesystem::path(first) / "state") << "x";
  }
  EXPECT_FALSE(std::filesystem::exists(first)) << "removed with the harness";
}

TEST(HarnessTest, LoadsARealPluginLibrary) {
  auto harness = PluginHarness::loadLibrary(HARNESS_ECHO_PLUGIN);
  ASSERT_TRUE(harness.ok()) << harness.status().toString();
  const HiveManifest* manifest = (*harness)->manifest();
  ASSERT_NE(manifest, nullptr);
  EXPECT_STREQ(manifest->name, "harness_echo");
  EXPECT_STREQ(manifest->provides[0].id, "harness.echo");
  EXPECT_EQ((*harness)->context().pluginName(), "harness_echo");
  EXPECT_EQ((*harness)->context().pluginVersion(), "1.0.0");

  (*harness)->setConfig(configFromPairs({{"prefx", "> "}}));
  EXPECT_THAT((*harness)->configure().toString(), HasSubstr("unknown key 'prefx' (did you mean 'prefix'?)"));
  (*harness)->setConfig(configFromPairs({{"prefix", "> "}}));
  ASSERT_TRUE((*harness)->start().ok());
  auto echo = (*harness)->services().get<harness_echo::Echo>();
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ((*echo)->echo("hi"), "> hi");
  EXPECT_THAT((*harness)->logLines(), ElementsAre("info: echo started"));
}

TEST(HarnessTest, ALoadedPluginMayProvideOnlyWhatItsManifestLists) {
  auto harness = PluginHarness::loadLibrary(HARNESS_ECHO_PLUGIN);
  ASSERT_TRUE(harness.ok()) << harness.status().toString();
  (*harness)->setConfig(configFromPairs({{"provide_undeclared", "true"}}));
  hive::Status started = (*harness)->start();
  EXPECT_EQ(started.code(), hive::StatusCode::kFailedPrecondition);
  EXPECT_THAT(started.message(), HasSubstr("harness.undeclared/1, which its manifest does not list"));
  EXPECT_FALSE((*harness)->services().get<harness_echo::Echo>().ok())
      << "a failed start leaves nothing behind";
}

TEST(HarnessTest, AServiceReferencePinsTheLibraryPastTheHarness) {
  hive::ServiceRef<harness_echo::Echo> echo;
  {
    auto harness = PluginHarness::loadLibrary(HARNESS_ECHO_PLUGIN);
    ASSERT_TRUE(harness.ok()) << harness.status().toString();
    ASSERT_TRUE((*harness)->start().ok());
    echo = *(*harness)->services().get<harness_echo::Echo>();
  }
  EXPECT_TRUE(mapped("harness_echo-1.0.0.so"));
  EXPECT_EQ(echo->echo("still here"), "still here");
  echo = {};
  EXPECT_FALSE(mapped("harness_echo-1.0.0.so")) << "closed with the last reference";
}

TEST(HarnessTest, RefusesFilesThatAreNotCompatiblePlugins) {
  auto missing = PluginHarness::loadLibrary("/nonexistent/plugin-1.0.0.so");
  EXPECT_EQ(missing.status().code(), hive::StatusCode::kNotFound);

  auto notALibrary = PluginHarness::loadLibrary("/proc/self/exe");
  EXPECT_FALSE(notALibrary.ok());

  auto future = PluginHarness::loadLibrary(HARNESS_FUTURE_ABI_PLUGIN);
  ASSERT_FALSE(future.ok());
  EXPECT_EQ(future.status().code(), hive::StatusCode::kFailedPrecondition);
  EXPECT_THAT(future.status().message(),
              HasSubstr("plugin 'harness_future_abi' 1.0.0: built for SDK ABI " +
                        std::to_string(HIVE_SDK_ABI_MAJOR + 1) + ".x, these SDK headers are " +
                        std::to_string(HIVE_SDK_ABI_MAJOR) + "." + std::to_string(HIVE_SDK_ABI_MINOR)));
  EXPECT_FALSE(mapped("harness_future_abi-1.0.0.so")) << "a refused library is closed again";
}

}  // namespace
