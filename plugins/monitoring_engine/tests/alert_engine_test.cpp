// The alert rules against a real metrics registry (the harness's) and a
// MemoryBus, with a clock the test moves.
#include "alert_engine.hpp"

#include <gtest/gtest.h>

#include "hive/testing/harness.hpp"
#include "hive/testing/memory_bus.hpp"

namespace hive::monitoring_engine {
namespace {

using testing::PluginHarness;

struct Fixture {
  Fixture() {
    auto loaded = PluginHarness::loadLibrary(MONITORING_ENGINE_PLUGIN);
    EXPECT_TRUE(loaded.ok());
    harness = std::move(loaded).value();
    harness->provideFake<bus::Bus>(bus);
  }
  std::unique_ptr<AlertEngine> engine(std::vector<AlertRule> rules) {
    AlertSettings settings;
    settings.defaultRules = false;
    settings.rules = std::move(rules);
    return std::make_unique<AlertEngine>(harness->context(), settings, [this] { return now; });
  }
  std::vector<std::string> events() {
    bus->drain();
    std::vector<std::string> out;
    for (const auto& e : bus->published("alerts")) out.push_back(e.payload);
    return out;
  }
  std::unique_ptr<PluginHarness> harness;
  std::shared_ptr<testing::MemoryBus> bus = std::make_shared<testing::MemoryBus>();
  std::int64_t now = 1'000'000;
};

AlertRule valueRule(std::string name, std::string metric, double threshold,
                    std::chrono::milliseconds forDuration) {
  AlertRule rule;
  rule.name = std::move(name);
  rule.metric = std::move(metric);
  rule.comparison = Comparison::kGreater;
  rule.threshold = threshold;
  rule.forDuration = forDuration;
  rule.severity = AlertSeverity::kCritical;
  rule.summary = "queue too deep";
  return rule;
}

TEST(AlertEngine, PendingThenFiringAfterForThenResolvedOnTheBus) {
  Fixture f;
  Gauge& depth = f.harness->metrics().gauge("demo_queue_depth", "Depth", {{"queue", "a"}});
  auto engine = f.engine({valueRule("DeepQueue", "demo_queue_depth", 10, std::chrono::seconds(30))});

  depth.set(11);
  engine->evaluate();
  auto snapshot = engine->snapshot();
  ASSERT_EQ(snapshot.active.size(), 1u);
  EXPECT_EQ(snapshot.active[0].state, AlertState::kPending);
  EXPECT_TRUE(f.events().empty()) << "pending is not a transition";

  f.now += 29'999;
  engine->evaluate();
  EXPECT_TRUE(f.events().empty()) << "fired before `for`";
  f.now += 1;
  engine->evaluate();
  auto events = f.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].find("\"event\":\"alert.firing\""), std::string::npos) << events[0];
  EXPECT_NE(events[0].find("\"rule\":\"DeepQueue\""), std::string::npos);
  EXPECT_NE(events[0].find("\"labels\":{\"queue\":\"a\"}"), std::string::npos);
  EXPECT_NE(events[0].find("\"severity\":\"critical\""), std::string::npos);
  EXPECT_EQ(f.harness->metrics()
                .gauge("hive_alerts_firing", "", {{"rule", "DeepQueue"}, {"severity", "critical"}})
                .value(),
            1);

  engine->evaluate();
  EXPECT_EQ(f.events().size(), 1u) << "firing is announced once";

  depth.set(3);
  f.now += 5'000;
  engine->evaluate();
  events = f.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[1].find("\"event\":\"alert.resolved\""), std::string::npos) << events[1];
  EXPECT_NE(events[1].find("\"resolved_at_ms\":1035000"), std::string::npos) << events[1];
  snapshot = engine->snapshot();
  EXPECT_TRUE(snapshot.active.empty());
  ASSERT_EQ(snapshot.resolved.size(), 1u);
  EXPECT_EQ(f.harness->metrics()
                .gauge("hive_alerts_firing", "", {{"rule", "DeepQueue"}, {"severity", "critical"}})
                .value(),
            0);
}

TEST(AlertEngine, AConditionThatStopsHoldingWhilePendingNeverFires) {
  Fixture f;
  Gauge& depth = f.harness->metrics().gauge("demo_queue_depth", "Depth");
  auto engine = f.engine({valueRule("DeepQueue", "demo_queue_depth", 10, std::chrono::seconds(30))});
  depth.set(20);
  engine->evaluate();
  depth.set(0);
  f.now += 20'000;
  engine->evaluate();
  depth.set(20);
  f.now += 20'000;
  engine->evaluate();  // pending again, from now: 20 s is not 30 s
  EXPECT_TRUE(f.events().empty());
  EXPECT_EQ(engine->snapshot().active.at(0).activeSinceMs, f.now);
}

TEST(AlertEngine, RateRulesUseTheIncreaseOverTheWindowAndSurviveAReset) {
  Fixture f;
  Counter& dead = f.harness->metrics().counter("demo_dead_total", "Dead", {{"capability", "x"}});
  f.harness->metrics().counter("demo_dead_total", "Dead", {{"capability", "y"}}).increment(1000);
  AlertRule rule = valueRule("DeadTasks", "demo_dead_total", 1.0, std::chrono::milliseconds(0));
  rule.rate = std::chrono::seconds(10);
  rule.labels = {{"capability", "x"}};
  auto engine = f.engine({rule});

  engine->evaluate();  // one point: no rate yet
  dead.increment(5);
  f.now += 10'000;
  engine->evaluate();  // 0.5/s
  EXPECT_TRUE(f.events().empty());
  dead.increment(30);
  f.now += 10'000;
  engine->evaluate();  // 3/s over the last 10 s
  auto events = f.events();
  ASSERT_EQ(events.size(), 1u) << "only capability x is matched";
  EXPECT_NE(events[0].find("\"value\":3"), std::string::npos) << events[0];
  EXPECT_NE(events[0].find("\"rate_window_ms\":10000"), std::string::npos);
  f.now += 10'000;
  engine->evaluate();  // nothing new: 0/s
  events = f.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[1].find("alert.resolved"), std::string::npos);
}

TEST(AlertRules, ConfigErrorsNameTheKey) {
  auto section = ConfigNode::map();
  auto rules = ConfigNode::sequence();
  auto rule = ConfigNode::map();
  rule.set("name", ConfigNode::scalar("bad name", {"hive.yaml", 10, 9}));
  rule.set("metric", ConfigNode::scalar("x_total"));
  rule.set("comparison", ConfigNode::scalar("=>", {"hive.yaml", 12, 15}));
  rule.set("threshold", ConfigNode::scalar("ten", {"hive.yaml", 13, 14}));
  rules.push(std::move(rule));
  section.set("rules", std::move(rules));
  auto hooks = ConfigNode::sequence();
  auto hook = ConfigNode::map();
  hook.set("name", ConfigNode::scalar("ops"));
  hook.set("url", ConfigNode::scalar("https://user@example.com/x", {"hive.yaml", 20, 10}));
  hooks.push(std::move(hook));
  section.set("webhooks", std::move(hooks));
  Diagnostics diagnostics;
  AlertSettings settings = readAlertSettings(section, diagnostics);
  std::string text = diagnostics.toString();
  EXPECT_NE(text.find("hive.yaml:10:9: error: 'name'"), std::string::npos) << text;
  EXPECT_NE(text.find("hive.yaml:12:15: error: 'comparison': must be one of"), std::string::npos) << text;
  EXPECT_NE(text.find("hive.yaml:13:14: error: 'threshold'"), std::string::npos) << text;
  EXPECT_NE(text.find("hive.yaml:20:10: error: 'url': must not contain user information"), std::string::npos)
      << text;
}

TEST(AlertRules, ShippedRulesAreOnByDefault) {
  Diagnostics diagnostics;
  AlertSettings settings = readAlertSettings(ConfigNode::null(), diagnostics);
  EXPECT_FALSE(diagnostics.hasErrors());
  EXPECT_EQ(settings.rules.size(), defaultAlertRules().size());
  EXPECT_GE(settings.rules.size(), 5u);
}

}  // namespace
}  // namespace hive::monitoring_engine
