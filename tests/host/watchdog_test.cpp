#include "host/watchdog.hpp"

#include <chrono>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "host/metrics.hpp"
#include "test_support.hpp"

namespace hive::host {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

class WatchdogTest : public ::testing::Test {
 protected:
  void TearDown() override { dog_.stop(); }

  // Polls `condition` for up to 5 s.
  template <typename Condition>
  static bool eventually(Condition condition) {
    for (int i = 0; i < 500; ++i) {
      if (condition()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return condition();
  }

  bool logged(const std::string& text) const {
    for (const auto& line : log_.messages())
      if (line.find(text) != std::string::npos) return true;
    return false;
  }

  hive::test::RecordingLogger log_;
  MetricsRegistry metrics_{log_};
  KernelWatchdog dog_{200ms, log_, metrics_};
};

TEST_F(WatchdogTest, ABusyThreadWithoutBeatsIsStalledThenRecovers) {
  dog_.start();
  auto heartbeat = dog_.watch("storage_sqlite/writer", 150ms);
  EXPECT_TRUE(dog_.stalled().empty()) << "it starts as if it had just beaten";
  ASSERT_TRUE(eventually([&] { return !dog_.stalled().empty(); }));
  auto stalled = dog_.stalled();
  ASSERT_EQ(stalled.size(), 1u);
  EXPECT_EQ(stalled[0].thread, "storage_sqlite/writer");
  EXPECT_GE(stalled[0].forMs, 150);
  ASSERT_TRUE(
      eventually([&] { return logged("watchdog: thread 'storage_sqlite/writer' has made no progress"); }));
  EXPECT_THAT(metrics_.exposition(),
              HasSubstr("hive_watchdog_stalls_total{thread=\"storage_sqlite/writer\"} 1"));

  heartbeat->beat();
  EXPECT_TRUE(dog_.stalled().empty());
  EXPECT_TRUE(
      eventually([&] { return logged("watchdog: thread 'storage_sqlite/writer' makes progress again"); }));
}

TEST_F(WatchdogTest, AnIdleThreadIsNeverStalled) {
  auto heartbeat = dog_.watch("notifier", 100ms);
  heartbeat->idle();
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(dog_.stalled().empty());
  heartbeat->beat();  // woke up with work
  EXPECT_TRUE(eventually([&] { return !dog_.stalled().empty(); }));
}

TEST_F(WatchdogTest, ABeatingThreadIsNotStalledAndADroppedHeartbeatIsForgotten) {
  auto heartbeat = dog_.watch("dispatcher", 100ms);
  for (int i = 0; i < 30; ++i) {
    heartbeat->beat();
    std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(dog_.stalled().empty());
  }
  auto forgotten = dog_.watch("gone", 100ms);
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(dog_.stalled().size(), 2u);
  forgotten.reset();
  heartbeat.reset();
  EXPECT_TRUE(dog_.stalled().empty());
}

TEST_F(WatchdogTest, NamesAndLimitsAreBounded) {
  auto odd = dog_.watch("Not A Name!", 1ms);  // clamped to 100 ms, named "unnamed"
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(dog_.stalled().empty()) << "the limit is at least 100 ms";
  ASSERT_TRUE(eventually([&] { return !dog_.stalled().empty(); }));
  EXPECT_EQ(dog_.stalled()[0].thread, "unnamed");
  EXPECT_EQ(dog_.period(), 200ms);
}

}  // namespace
}  // namespace hive::host
