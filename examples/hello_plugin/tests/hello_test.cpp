#include <gtest/gtest.h>
#include <hive/testing/harness.hpp>

#include "hello/plugin.hpp"

namespace {

using hive::testing::configFromPairs;
using hive::testing::PluginHarness;

TEST(HelloTest, GreetsWithTheConfiguredGreetingAndCounts) {
  auto harness = PluginHarness::create<hello::HelloPlugin>("hello", "1.0.0");
  harness->setConfig(configFromPairs({{"greeting", "Hi"}}));
  ASSERT_FALSE(harness->configure().hasErrors());
  ASSERT_TRUE(harness->start().ok());
  auto greeter = harness->services().get<hello::Greeter>();
  ASSERT_TRUE(greeter.ok());
  EXPECT_EQ((*greeter)->greet("Ada"), "Hi, Ada!");
  EXPECT_EQ((*greeter)->greet("Alan"), "Hi, Alan!");
  EXPECT_EQ(harness->metrics().counter("hello_greetings_total", "").value(), 2.0);
}

TEST(HelloTest, LogsAHeartbeatOnItsTimer) {
  auto harness = PluginHarness::create<hello::HelloPlugin>("hello");
  harness->setConfig(configFromPairs({{"heartbeat", "10s"}}));
  ASSERT_FALSE(harness->configure().hasErrors());
  ASSERT_TRUE(harness->start().ok());
  harness->advanceTime(std::chrono::seconds(35));
  harness->stop();
  std::vector<std::string> expected = {"info: started; greeting 'Hello'", "info: alive (1)", "info: alive (2)",
                                       "info: alive (3)", "info: stopped"};
  EXPECT_EQ(harness->logLines(), expected);
}

TEST(HelloTest, RejectsBadSettingsWithTheKeyNamed) {
  auto harness = PluginHarness::create<hello::HelloPlugin>("hello");
  harness->setConfig(configFromPairs({{"greeting", ""}, {"heartbeat", "often"}, {"greting", "x"}}));
  auto diagnostics = harness->configure();
  EXPECT_EQ(diagnostics.errorCount(), 3u) << diagnostics.toString();
  EXPECT_NE(diagnostics.toString().find("'greeting': must not be empty"), std::string::npos);
  EXPECT_NE(diagnostics.toString().find("'heartbeat': expected a duration"), std::string::npos);
  EXPECT_NE(diagnostics.toString().find("did you mean 'greeting'"), std::string::npos);
}

TEST(HelloTest, TheBuiltLibraryLoadsAndServes) {
  auto harness = PluginHarness::loadLibrary(HELLO_PLUGIN_PATH);
  ASSERT_TRUE(harness.ok()) << harness.status().toString();
  EXPECT_STREQ((*harness)->manifest()->version, "1.0.0");
  ASSERT_FALSE((*harness)->configure().hasErrors());
  ASSERT_TRUE((*harness)->start().ok());
  auto greeter = (*harness)->services().get<hello::Greeter>();
  ASSERT_TRUE(greeter.ok());
  EXPECT_EQ((*greeter)->greet("Grace"), "Hello, Grace!");
}

}  // namespace
