// The SDK's test harness, on a plugin defined here and on a real .so.
#include "hive/testing/harness.hpp"

#include <gtest/gtest.h>

namespace {

using hive::testing::configFromPairs;
using hive::testing::PluginHarness;

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
  int hour() override { return 9; }
};

class GreeterPlugin final : public hive::Plugin {
 public:
  explicit GreeterPlugin(hive::PluginContext& context) : context_(context) {}

  void configure(const hive::ConfigNode& section, hive::Diagnostics& diagnostics) override {
    hive::ConfigReader reader(section, diagnostics);
    greeting_ = reader.get<std::string>("greeting", "Hello");
    period_ = reader.get<std::chrono::milliseconds>("heartbeat", std::chrono::seconds(30));
    if (greeting_.empty()) reader.reject("greeting", "must not be empty");
    reader.finish();
  }

  hive::Status start() override {
    auto clock = HIVE_TRY(context_.services().get<Clock>(), "greeter needs a clock");
    hour_ = clock->hour();
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
    context_.log().info("started at hour " + std::to_string(hour_));
    return hive::okStatus();
  }

  void stop() override {
    heartbeat_.reset();
    context_.log().info("stopped");
  }

 private:
  hive::PluginContext& context_;
  std::string greeting_;
  std::chrono::milliseconds period_{0};
  std::unique_ptr<hive::Timer> heartbeat_;
  int hour_ = 0;
  int beats_ = 0;
};

TEST(HarnessTest, DrivesALinkedPluginThroughItsLifecycle) {
  auto harness = PluginHarness::create<GreeterPlugin>("greeter", "1.0.0");
  harness->setConfig(configFromPairs({{"greeting", "Hi"}, {"heartbeat", "10s"}}));
  ASSERT_FALSE(harness->configure().hasErrors());
  EXPECT_EQ(harness->start().code(), hive::StatusCode::kNotFound) << "no clock yet";
  harness->provideFake<Clock>(std::make_shared<FixedClock>());
  ASSERT_TRUE(harness->start().ok());

  auto greeter = harness->services().get<Greeter>();
  ASSERT_TRUE(greeter.ok());
  EXPECT_EQ((*greeter)->greet("Ada"), "Hi, Ada!");
  EXPECT_EQ(harness->metrics().counter("greetings_total", "").value(), 1.0);

  harness->advanceTime(std::chrono::seconds(25));
  harness->stop();
  auto lines = harness->logLines();
  std::vector<std::string> expected = {"info: started at hour 9", "info: heartbeat 1", "info: heartbeat 2",
                                       "info: stopped"};
  EXPECT_EQ(lines, expected);
  harness->advanceTime(std::chrono::seconds(60));
  EXPECT_EQ(harness->logLines().size(), 4u) << "no heartbeat after stop";
}

TEST(HarnessTest, ReportsConfigurationErrors) {
  auto harness = PluginHarness::create<GreeterPlugin>("greeter");
  harness->setConfig(configFromPairs({{"greeting", ""}, {"heartbat", "1s"}}));
  auto diagnostics = harness->configure();
  ASSERT_EQ(diagnostics.errorCount(), 2u);
  EXPECT_NE(diagnostics.toString().find("'greeting': must not be empty"), std::string::npos);
  EXPECT_NE(diagnostics.toString().find("unknown key 'heartbat' (did you mean 'heartbeat'?)"),
            std::string::npos);
}

TEST(HarnessTest, LoadsARealPluginLibrary) {
  auto harness = PluginHarness::loadLibrary(std::string(HIVE_TEST_PLUGIN_DIR) + "/solo-1.0.0.so");
  ASSERT_TRUE(harness.ok()) << harness.status().toString();
  ASSERT_NE((*harness)->manifest(), nullptr);
  EXPECT_STREQ((*harness)->manifest()->name, "solo");
  EXPECT_EQ((*harness)->context().pluginName(), "solo");
  (*harness)->setConfig(configFromPairs({{"limit", "0"}}));
  auto diagnostics = (*harness)->configure();
  EXPECT_NE(diagnostics.toString().find("'limit': must be at least 1"), std::string::npos);
  (*harness)->setConfig(configFromPairs({}));
  EXPECT_FALSE((*harness)->configure().hasErrors());
  EXPECT_TRUE((*harness)->start().ok());
  EXPECT_EQ((*harness)->logLines().back(), "info: started");
}

TEST(HarnessTest, RefusesFilesThatAreNotPlugins) {
  EXPECT_FALSE(PluginHarness::loadLibrary("/nonexistent.so").ok());
  auto wrongAbi = PluginHarness::loadLibrary(std::string(HIVE_TEST_PLUGIN_DIR) + "/abi_major-2.1.0.so");
  ASSERT_FALSE(wrongAbi.ok());
  EXPECT_NE(wrongAbi.status().message().find("built for SDK ABI"), std::string::npos);
}

}  // namespace
