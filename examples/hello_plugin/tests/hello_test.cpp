// The hello plugin under Hive::sdk_testing, twice: linked into the test (hello_objects)
// and loaded from the built hello-1.0.0.so the way the kernel loads it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hello/greeter.hpp"
#include "hello_plugin.hpp"
#include <hive/testing/harness.hpp>

namespace {

using hive::testing::configFromPairs;
using hive::testing::PluginHarness;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

enum class Build { kLinked, kLoaded };

void PrintTo(Build build, std::ostream* out) {
  *out << (build == Build::kLinked ? "linked" : "loaded library");
}

class HelloTest : public ::testing::TestWithParam<Build> {
 protected:
  void SetUp() override {
    if (GetParam() == Build::kLinked) {
      harness_ = PluginHarness::create<hello::HelloPlugin>("hello", HELLO_VERSION);
      return;
    }
    auto loaded = PluginHarness::loadLibrary(HELLO_PLUGIN_PATH);
    ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
    harness_ = std::move(loaded).value();
  }

  PluginHarness& harness() { return *harness_; }

  std::string greet(std::string_view name) {
    auto greeter = harness().services().get<hello::Greeter>();
    return greeter.ok() ? (*greeter)->greet(name) : greeter.status().toString();
  }

  double greetingsCounted() { return harness().metrics().counter("hello_greetings_total", "").value(); }

 private:
  std::unique_ptr<PluginHarness> harness_;
};

TEST_P(HelloTest, GreetsWithTheConfiguredGreetingAndCountsEachGreeting) {
  harness().setConfig(configFromPairs({{"greeting", "Hi"}}));
  ASSERT_FALSE(harness().configure().hasErrors());
  ASSERT_TRUE(harness().start().ok());
  EXPECT_EQ(greet("Ada"), "Hi, Ada!");
  EXPECT_EQ(greet("Alan"), "Hi, Alan!");
  EXPECT_EQ(greetingsCounted(), 2.0);
  EXPECT_THAT(harness().metrics().exposition(), HasSubstr("hello_greetings_total 2\n"));
  EXPECT_THAT(harness().logLines(), ElementsAre("info: started; greeting 'Hi'"));
}

TEST_P(HelloTest, SaysHelloWhenNotConfigured) {
  ASSERT_FALSE(harness().configure().hasErrors());
  ASSERT_TRUE(harness().start().ok());
  EXPECT_EQ(greet("Grace"), "Hello, Grace!");
}

TEST_P(HelloTest, RejectsAnEmptyGreetingNamingTheKey) {
  harness().setConfig(configFromPairs({{"greeting", ""}}));
  hive::Diagnostics diagnostics = harness().configure();
  ASSERT_EQ(diagnostics.errorCount(), 1u) << diagnostics.toString();
  // configFromPairs carries no file positions: the error has no line, but names the key.
  EXPECT_EQ(diagnostics.items()[0].location.line, 0);
  EXPECT_EQ(diagnostics.items()[0].toString(), "<config>: error: 'greeting': must not be empty");
  EXPECT_EQ(harness().start().code(), hive::StatusCode::kInvalidArgument) << "the kernel would not start it";
}

TEST_P(HelloTest, PointsAtTheLineOfAnEmptyGreetingWhenItIsKnown) {
  auto section = hive::ConfigNode::map({"hive.yaml", 6, 7});
  section.set("greeting", hive::ConfigNode::scalar("", {"hive.yaml", 7, 19}), {"hive.yaml", 7, 9});
  harness().setConfig(section);
  EXPECT_EQ(harness().configure().toString(), "hive.yaml:7:19: error: 'greeting': must not be empty\n");
}

TEST_P(HelloTest, ReportsEveryBadSetting) {
  harness().setConfig(configFromPairs({{"greeting", ""}, {"heartbeat", "often"}, {"greting", "Hey"}}));
  hive::Diagnostics diagnostics = harness().configure();
  EXPECT_EQ(diagnostics.errorCount(), 3u) << diagnostics.toString();
  EXPECT_THAT(diagnostics.toString(), HasSubstr("'greeting': must not be empty"));
  EXPECT_THAT(diagnostics.toString(),
              HasSubstr("'heartbeat': expected a duration such as 250ms, 30s, 5m or 1h"));
  EXPECT_THAT(diagnostics.toString(), HasSubstr("unknown key 'greting' (did you mean 'greeting'?)"));

  harness().setConfig(configFromPairs({{"heartbeat", "0s"}}));
  EXPECT_THAT(harness().configure().toString(), HasSubstr("'heartbeat': must be longer than 0ms"));
}

TEST_P(HelloTest, LogsAHeartbeatEveryPeriod) {
  ASSERT_TRUE(harness().start().ok());  // default heartbeat: 30s
  (void)greet("Ada");
  harness().advanceTime(seconds(29));
  EXPECT_EQ(harness().logLines().size(), 1u) << "nothing before the first period";
  harness().advanceTime(seconds(1));
  harness().advanceTime(seconds(60));
  EXPECT_THAT(harness().logLines(),
              ElementsAre("info: started; greeting 'Hello'", "info: heartbeat: 1 greetings so far",
                          "info: heartbeat: 1 greetings so far", "info: heartbeat: 1 greetings so far"));
}

TEST_P(HelloTest, FollowsAConfiguredHeartbeat) {
  harness().setConfig(configFromPairs({{"heartbeat", "250ms"}}));
  ASSERT_TRUE(harness().start().ok());
  harness().advanceTime(seconds(1));
  EXPECT_EQ(harness().logLines().size(), 5u);
}

TEST_P(HelloTest, StopsItsHeartbeatAndWithdrawsTheGreeter) {
  ASSERT_TRUE(harness().start().ok());
  harness().stop();
  EXPECT_EQ(harness().logLines().back(), "info: stopped");
  EXPECT_FALSE(harness().services().get<hello::Greeter>().ok());
  harness().advanceTime(seconds(120));
  EXPECT_EQ(harness().logLines().back(), "info: stopped") << "no heartbeat after stop";
}

INSTANTIATE_TEST_SUITE_P(Builds, HelloTest, ::testing::Values(Build::kLinked, Build::kLoaded),
                         [](const ::testing::TestParamInfo<Build>& info) {
                           return info.param == Build::kLinked ? "Linked" : "LoadedLibrary";
                         });

TEST(HelloLibraryTest, DeclaresItselfInItsManifest) {
  auto loaded = PluginHarness::loadLibrary(HELLO_PLUGIN_PATH);
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  const HiveManifest* manifest = (*loaded)->manifest();
  ASSERT_NE(manifest, nullptr);
  EXPECT_STREQ(manifest->name, "hello");
  EXPECT_STREQ(manifest->version, HELLO_VERSION);
  EXPECT_STREQ(manifest->provides[0].id, "example.greeter");
  EXPECT_EQ(manifest->provides[0].major, 1u);
  EXPECT_EQ(manifest->provides[1].major, 0u) << "and nothing else";
}

}  // namespace
