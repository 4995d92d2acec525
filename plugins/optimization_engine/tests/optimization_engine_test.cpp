// The adaptive concurrency limit on made-up times (deterministic: every
// timestamp is the test's), its feeding from task events, and the real .so.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "agent_limits.hpp"
#include "attempt_events.hpp"
#include "gradient_limit.hpp"
#include "hive/services/bus.hpp"
#include "hive/services/concurrency.hpp"
#include "hive/services/http.hpp"
#include "hive/testing/harness.hpp"
#include "hive/testing/memory_bus.hpp"

namespace hive::optimization_engine {
namespace {

using testing::PluginHarness;

GradientOptions options() {
  GradientOptions o;
  o.windowSamples = 4;
  o.window = std::chrono::seconds(10);
  o.tolerance = 2.0;
  o.baselineDrift = 0.05;
  o.failureShare = 0.5;
  return o;
}

// Feeds one window of `count` attempts of `runMs` each, 1 ms apart.
void window(GradientLimit& limit, double runMs, std::int64_t& now, int count = 4,
            Attempt attempt = Attempt::kSucceeded) {
  for (int i = 0; i < count; ++i) limit.record(runMs, attempt, now++);
}

TEST(GradientLimit, MeasuresItsBaselineAtTheMinimumThenOpensAndStaysWhileTimesHold) {
  GradientLimit limit(options());
  EXPECT_EQ(limit.limit(8), 1u) << "the baseline window runs at min_limit";
  std::int64_t now = 0;
  window(limit, 100, now);
  EXPECT_EQ(limit.limit(8), 8u);
  for (int w = 1; w < 10; ++w) window(limit, w % 2 == 0 ? 100 : 180, now);  // within 2 × baseline
  EXPECT_EQ(limit.limit(8), 8u);
  EXPECT_EQ(limit.windows(), 10u);
  // A slower window moves the baseline by 5 % of the gap, a faster one resets it.
  EXPECT_DOUBLE_EQ(limit.baselineMs(), 104);
}

TEST(GradientLimit, ASlowdownCutsTheLimitByHowMuchSlowerItIs) {
  GradientLimit limit(options());
  ASSERT_EQ(limit.limit(8), 1u);
  std::int64_t now = 0;
  window(limit, 100, now);  // baseline 100: open to 8
  window(limit, 400, now);  // 2 × 100 / 400 = 0.5: 8 → 4; baseline 115
  EXPECT_EQ(limit.limit(8), 4u);
  EXPECT_DOUBLE_EQ(limit.baselineMs(), 115);
  window(limit, 300, now);  // 230 / 300: 4 → 3.07; baseline 124.25
  EXPECT_EQ(limit.limit(8), 3u);
  window(limit, 1000, now);  // at most halved: 1.53
  EXPECT_EQ(limit.limit(8), 1u);
  window(limit, 1000, now);  // never below min_limit
  EXPECT_EQ(limit.limit(8), 1u);
}

TEST(GradientLimit, RecoversOneStepPerWindowOnceTimesAreBack) {
  GradientLimit limit(options());
  limit.limit(6);
  std::int64_t now = 0;
  window(limit, 100, now);
  window(limit, 1000, now);  // 6 → 3
  window(limit, 1000, now);  // → 1.5
  ASSERT_EQ(limit.limit(6), 1u);
  std::vector<std::uint32_t> seen;
  for (int w = 0; w < 6; ++w) {
    window(limit, 90, now);  // faster than the baseline: a new baseline, and +1
    seen.push_back(limit.limit(6));
  }
  EXPECT_EQ(seen, (std::vector<std::uint32_t>{2, 3, 4, 5, 6, 6}));
  EXPECT_DOUBLE_EQ(limit.baselineMs(), 90);
}

TEST(GradientLimit, FailingWindowsHalveItAndAWindowClosesOnTimeToo) {
  GradientLimit limit(options());
  limit.limit(8);
  std::int64_t now = 0;
  window(limit, 100, now);
  window(limit, 100, now, 4, Attempt::kFailed);
  EXPECT_EQ(limit.limit(8), 4u);

  EXPECT_FALSE(limit.record(100, Attempt::kSucceeded, 1000));  // opens a window
  EXPECT_TRUE(limit.record(100, Attempt::kSucceeded, 11000)) << "10 s later it closes with 2 attempts";
  EXPECT_EQ(limit.limit(8), 5u);
}

TEST(GradientLimit, ALongSlowdownBecomesTheNewBaseline) {
  GradientLimit limit(options());
  limit.limit(8);
  std::int64_t now = 0;
  window(limit, 100, now);
  int windows = 0;
  while (300 > 2 * limit.baselineMs() && windows < 100) {
    window(limit, 300, now);
    ++windows;
  }
  // 100 + 200 × (1 − 0.95^n) ≥ 150 after n = 6 windows, the limit cut each
  // time by less (8 → 5.3 → 3.9 → 3.1 → 2.7 → 2.4 → 2.4); then it climbs back.
  EXPECT_EQ(windows, 6);
  std::uint32_t low = limit.limit(8);
  EXPECT_EQ(low, 2u);
  for (int w = 0; w < 8; ++w) window(limit, 300, now);
  EXPECT_GT(limit.limit(8), low);
  EXPECT_EQ(limit.limit(8), 8u);
}

// An agent that keeps up with 3 tasks at once: each attempt takes 100 ms at
// up to 3 in flight and proportionally longer beyond (a saturated CPU). The
// dispatcher always fills it to its limit. The limit must settle around the
// knee instead of staying at 16, and never leave [1, 16].
TEST(GradientLimit, SettlesNearTheLoadAnAgentCanTake) {
  GradientOptions o = options();
  o.baselineDrift = 0.0;  // the agent's speed does not change: keep the first baseline
  GradientLimit limit(o);
  std::int64_t now = 0;
  std::vector<std::uint32_t> seen;
  for (int w = 0; w < 60; ++w) {
    std::uint32_t inFlight = limit.limit(16);
    ASSERT_GE(inFlight, 1u);
    ASSERT_LE(inFlight, 16u);
    double runMs = 100.0 * std::max(1.0, inFlight / 3.0);
    window(limit, runMs, now);
    now += static_cast<std::int64_t>(runMs);
    seen.push_back(limit.limit(16));
  }
  std::vector<std::uint32_t> last(seen.end() - 20, seen.end());
  EXPECT_LE(*std::max_element(last.begin(), last.end()), 7u);
  EXPECT_GE(*std::min_element(last.begin(), last.end()), 3u);
  EXPECT_EQ(seen[0], 16u) << "the baseline window (at 1 in flight) opens it";
  EXPECT_LT(seen[1], 16u) << "the first overloaded window cuts it";
}

std::string event(const std::string& name, const std::string& id, const std::string& status,
                  const std::string& agent, std::int64_t startedAt, std::int64_t updatedAt) {
  return R"({"event":")" + name + R"(","task":{"id":")" + id + R"(","status":")" + status + R"(","agent":")" +
         agent + R"(","started_at_ms":)" + std::to_string(startedAt) + R"(,"updated_at_ms":)" +
         std::to_string(updatedAt) + "}}";
}

class AttemptEventsTest : public ::testing::Test {
 protected:
  std::unique_ptr<PluginHarness> harness_ =
      std::move(PluginHarness::loadLibrary(OPTIMIZATION_ENGINE_PLUGIN)).value();
  std::shared_ptr<AgentLimits> limits_ = std::make_shared<AgentLimits>(options(), harness_->metrics(), 2);
  AttemptEvents events_{limits_, 100};

  // One attempt of `agent` running from `start` for `runMs`, ending as `end`.
  void attempt(const std::string& agent, const std::string& id, std::int64_t start, std::int64_t runMs,
               const std::string& end = "task.succeeded") {
    events_.record(event("task.running", id, "running", agent, start, start));
    std::string status = end == "task.succeeded"  ? "succeeded"
                         : end == "task.retrying" ? "pending"
                                                  : "failed";
    // A retry clears the task's agent: the tracker must remember it.
    events_.record(event(end, id, status, end == "task.retrying" ? "" : agent, start, start + runMs));
  }
};

TEST_F(AttemptEventsTest, RunTimesFromTheEventsLowerTheSlowAgentsLimitOnly) {
  EXPECT_EQ(limits_->limit("slow", 8), 1u);
  EXPECT_EQ(limits_->limit("fast", 8), 1u);
  std::int64_t at = 1000;
  for (int n = 0; n < 4; ++n) attempt("slow", "s" + std::to_string(n), at += 10, 100);
  for (int n = 0; n < 4; ++n) attempt("slow", "t" + std::to_string(n), at += 10, 800, "task.retrying");
  for (int n = 0; n < 8; ++n) attempt("fast", "f" + std::to_string(n), at += 10, 100);
  EXPECT_EQ(limits_->limit("slow", 8), 4u) << "a window of failed attempts (all retried) halves it";
  EXPECT_EQ(limits_->limit("fast", 8), 8u);
  EXPECT_EQ(events_.running(), 0u);
  EXPECT_GE(harness_->metrics()
                .counter("hive_concurrency_limit_changes_total", "", {{"direction", "down"}})
                .value(),
            1);
  EXPECT_EQ(harness_->metrics().gauge("hive_concurrency_limited_agents", "").value(), 1);
  EXPECT_EQ(limits_->limit("third", 5), 5u) << "beyond max_agents (2): not followed, not limited";
  EXPECT_EQ(limits_->snapshot().size(), 2u);
}

TEST_F(AttemptEventsTest, ACancellationIsNotTheAgentsOutcome) {
  limits_->limit("a", 4);
  std::int64_t at = 0;
  for (int n = 0; n < 4; ++n) attempt("a", "x" + std::to_string(n), at += 10, 100, "task.cancelled");
  EXPECT_EQ(limits_->snapshot().front().windows, 0u);
  EXPECT_EQ(events_.running(), 0u);
}

TEST(OptimizationEnginePlugin, ProvidesTheLimiterFedFromTheBusAndShowsIt) {
  auto loaded = PluginHarness::loadLibrary(OPTIMIZATION_ENGINE_PLUGIN);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  auto harness = std::move(loaded).value();
  auto bus = std::make_shared<testing::MemoryBus>();
  harness->provideFake<bus::Bus>(bus, "communication_engine");
  harness->setConfig(testing::configFromPairs({}));
  ASSERT_TRUE(harness->start().ok());
  auto limiter = harness->services().get<concurrency::Limiter>();
  ASSERT_TRUE(limiter.ok());
  EXPECT_EQ((*limiter)->limit("a1", 8), 1u);
  std::int64_t at = 1000;
  for (int n = 0; n < 8; ++n) {  // the default window: 8 attempts
    std::string id = "t" + std::to_string(n);
    ASSERT_TRUE(bus->publish("tasks", event("task.running", id, "running", "a1", at, at)).ok());
    ASSERT_TRUE(bus->publish("tasks", event("task.failed", id, "failed", "a1", at, at + 50)).ok());
    at += 60;
  }
  ASSERT_TRUE(bus->drain());
  EXPECT_EQ((*limiter)->limit("a1", 8), 4u) << "the baseline window opened it to 8, its failures halved that";

  auto routes = harness->services().get<http::RouteProvider>();
  ASSERT_TRUE(routes.ok());
  ASSERT_EQ((*routes)->routes().size(), 1u);
  EXPECT_EQ((*routes)->routes()[0].permission, "observability:read");
  std::optional<http::Response> answer;
  (*routes)->serve("optimization.concurrency", http::Request{},
                   [&](http::Response r) { answer = std::move(r); });
  ASSERT_TRUE(answer.has_value());
  auto body = boost::json::parse(answer->body).as_object();
  EXPECT_TRUE(body["enforced"].as_bool());
  auto agent = body["agents"].as_array()[0].as_object();
  EXPECT_EQ(agent["agent_id"].as_string(), "a1");
  EXPECT_EQ(agent["limit"].as_int64(), 4);
  EXPECT_EQ(agent["max_concurrency"].as_int64(), 8);
  harness->stop();
}

TEST(OptimizationEnginePlugin, DisabledItLearnsButDoesNotProvideTheLimiter) {
  auto harness = std::move(PluginHarness::loadLibrary(OPTIMIZATION_ENGINE_PLUGIN)).value();
  ConfigNode section = ConfigNode::map();
  ConfigNode adaptive = ConfigNode::map();
  adaptive.set("enabled", ConfigNode::scalar("false"));
  section.set("adaptive_concurrency", adaptive);
  harness->setConfig(section);
  ASSERT_TRUE(harness->start().ok());
  EXPECT_FALSE(harness->services().get<concurrency::Limiter>().ok());
  harness->stop();
}

}  // namespace
}  // namespace hive::optimization_engine
