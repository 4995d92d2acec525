// The real monitoring_engine .so through the SDK harness.
#include <chrono>
#include <optional>

#include <gtest/gtest.h>

#include "hive/services/health.hpp"
#include "hive/services/http.hpp"
#include "hive/testing/harness.hpp"

namespace hive::monitoring_engine {
namespace {

using testing::PluginHarness;

std::unique_ptr<PluginHarness> started(ConfigNode section = ConfigNode::map()) {
  auto loaded = PluginHarness::loadLibrary(MONITORING_ENGINE_PLUGIN);
  EXPECT_TRUE(loaded.ok()) << loaded.status().message();
  auto harness = std::move(loaded).value();
  harness->setConfig(std::move(section));
  Status status = harness->start();
  EXPECT_TRUE(status.ok()) << status.message();
  return harness;
}

http::Response call(PluginHarness& harness, const std::string& routeId, http::Request request) {
  auto routes = harness.services().get<http::RouteProvider>();
  EXPECT_TRUE(routes.ok());
  std::optional<http::Response> answer;
  (*routes)->serve(routeId, std::move(request), [&](http::Response r) { answer = std::move(r); });
  harness.runPending();
  EXPECT_TRUE(answer.has_value());
  return answer.value_or(http::Response{});
}

TEST(MonitoringEngine, MetricsRouteNeedsMetricsRead) {
  auto harness = started();
  auto routes = harness->services().get<http::RouteProvider>();
  ASSERT_TRUE(routes.ok());
  bool found = false;
  for (const auto& route : (*routes)->routes())
    if (route.path == "/metrics") {
      found = true;
      EXPECT_EQ(route.method, "GET");
      EXPECT_EQ(route.permission, "metrics:read");
    }
  EXPECT_TRUE(found);
}

TEST(MonitoringEngine, ServesTheRegistryInBothFormats) {
  auto harness = started();
  harness->metrics().counter("demo_things_total", "Things done", {{"kind", "a"}}).increment(2);

  http::Response text = call(*harness, "metrics", http::Request{});
  EXPECT_EQ(text.status, 200);
  EXPECT_EQ(text.contentType, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(text.body.find("# TYPE demo_things_total counter\n"), std::string::npos) << text.body;
  EXPECT_NE(text.body.find("demo_things_total{kind=\"a\"} 2\n"), std::string::npos);
  EXPECT_NE(text.body.find("process_resident_memory_bytes "), std::string::npos);
  EXPECT_EQ(text.body.find("# EOF"), std::string::npos);

  http::Request asked;
  asked.headers.push_back({"accept", "application/openmetrics-text; version=1.0.0"});
  http::Response open = call(*harness, "metrics", asked);
  EXPECT_EQ(open.status, 200);
  EXPECT_EQ(open.contentType, "application/openmetrics-text; version=1.0.0; charset=utf-8");
  EXPECT_NE(open.body.find("# TYPE demo_things counter\n"), std::string::npos) << open.body;
  EXPECT_NE(open.body.find("demo_things_total{kind=\"a\"} 2\n"), std::string::npos);
  ASSERT_GE(open.body.size(), 6u);
  EXPECT_EQ(open.body.substr(open.body.size() - 6), "# EOF\n");
}

TEST(MonitoringEngine, ProcessCpuCounterNeverGoesBack) {
  auto harness = started();
  call(*harness, "metrics", http::Request{});
  double first = harness->metrics().counter("process_cpu_seconds_total", "").value();
  // Burn some CPU so that the second reading has something to add.
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  while (std::chrono::steady_clock::now() < until) {
  }
  call(*harness, "metrics", http::Request{});
  EXPECT_GE(harness->metrics().counter("process_cpu_seconds_total", "").value(), first);
  EXPECT_GT(harness->metrics().gauge("process_open_fds", "").value(), 0);
}

// Plays the kernel's hive.health/1: answers what the test sets.
class ScriptedChecker final : public health::Checker {
 public:
  Result<std::vector<health::PluginHealth>> check() override {
    ++calls;
    if (busy) return unavailable("the kernel is changing plugins now");
    return answers;
  }
  std::vector<health::PluginHealth> answers;
  bool busy = false;
  int calls = 0;
};

health::PluginHealth answer(std::string plugin, Status status) {
  health::PluginHealth h;
  h.plugin = std::move(plugin);
  h.generation = 1;
  h.status = std::move(status);
  return h;
}

std::vector<health::FailingCheck> failing(PluginHarness& harness) {
  auto readiness = harness.services().get<health::Readiness>();
  EXPECT_TRUE(readiness.ok());
  return readiness.ok() ? (*readiness)->failing() : std::vector<health::FailingCheck>{};
}

TEST(MonitoringEngine, ReadinessFollowsThePluginsHealthEveryPeriod) {
  auto checker = std::make_shared<ScriptedChecker>();
  checker->answers = {answer("storage_postgres", okStatus()), answer("communication_engine", okStatus())};
  auto loaded = PluginHarness::loadLibrary(MONITORING_ENGINE_PLUGIN);
  ASSERT_TRUE(loaded.ok());
  auto harness = std::move(loaded).value();
  harness->provideFake<health::Checker>(checker, "kernel");
  harness->setConfig(testing::configFromPairs({{"health_period", "2s"}}));
  ASSERT_TRUE(harness->start().ok());

  harness->advanceTime(std::chrono::seconds(2));
  EXPECT_EQ(checker->calls, 1);
  EXPECT_TRUE(failing(*harness).empty());

  checker->answers[1].status = unavailable("redis ping: connection refused");
  harness->advanceTime(std::chrono::milliseconds(1999));
  EXPECT_TRUE(failing(*harness).empty()) << "polled before the period";
  harness->advanceTime(std::chrono::milliseconds(1));
  auto down = failing(*harness);
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0].name, "communication_engine");
  EXPECT_EQ(down[0].reason, "UNAVAILABLE: redis ping: connection refused");
  EXPECT_GT(down[0].sinceUnixMs, 0);
  EXPECT_EQ(harness->metrics().gauge("hive_plugin_healthy", "", {{"plugin", "communication_engine"}}).value(),
            0);

  // A kernel busy with a swap does not answer: the last state stands.
  checker->busy = true;
  harness->advanceTime(std::chrono::seconds(2));
  EXPECT_EQ(failing(*harness).size(), 1u);

  http::Response detail = call(*harness, "observability.health", http::Request{});
  EXPECT_EQ(detail.status, 200);
  EXPECT_NE(detail.body.find("\"ready\":false"), std::string::npos) << detail.body;
  EXPECT_NE(detail.body.find("\"poll_error\":\"the kernel is changing plugins now\""), std::string::npos);
  EXPECT_NE(detail.body.find("\"error\":\"UNAVAILABLE: redis ping: connection refused\""), std::string::npos);

  checker->busy = false;
  checker->answers[1].status = okStatus();
  harness->advanceTime(std::chrono::seconds(2));
  EXPECT_TRUE(failing(*harness).empty());
  EXPECT_EQ(harness->metrics().gauge("hive_plugin_healthy", "", {{"plugin", "communication_engine"}}).value(),
            1);
  detail = call(*harness, "observability.health", http::Request{});
  EXPECT_NE(detail.body.find("\"ready\":true"), std::string::npos) << detail.body;
  // Recovered, but the last error is kept for the operator.
  EXPECT_NE(detail.body.find("\"last_error\":\"UNAVAILABLE: redis ping: connection refused\""),
            std::string::npos);
  EXPECT_EQ(detail.body.find("\"error\":"), std::string::npos);
}

TEST(MonitoringEngine, OptionalPluginsAreShownButDoNotMakeItUnready) {
  auto checker = std::make_shared<ScriptedChecker>();
  checker->answers = {answer("task_execution_engine", unavailable("no sandbox")), answer("api", okStatus())};
  auto loaded = PluginHarness::loadLibrary(MONITORING_ENGINE_PLUGIN);
  ASSERT_TRUE(loaded.ok());
  auto harness = std::move(loaded).value();
  harness->provideFake<health::Checker>(checker, "kernel");
  auto section = ConfigNode::map();
  auto optional = ConfigNode::sequence();
  optional.push(ConfigNode::scalar("task_execution_engine"));
  section.set("optional_plugins", std::move(optional));
  harness->setConfig(std::move(section));
  ASSERT_TRUE(harness->start().ok());
  harness->advanceTime(std::chrono::seconds(5));
  EXPECT_EQ(checker->calls, 1) << "default health_period is 5s";
  EXPECT_TRUE(failing(*harness).empty());
  http::Response detail = call(*harness, "observability.health", http::Request{});
  EXPECT_NE(detail.body.find("\"optional\":true"), std::string::npos) << detail.body;
  EXPECT_NE(detail.body.find("\"ready\":true"), std::string::npos);
}

TEST(MonitoringEngine, BadConfigIsReportedWithTheKey) {
  auto loaded = PluginHarness::loadLibrary(MONITORING_ENGINE_PLUGIN);
  ASSERT_TRUE(loaded.ok());
  auto harness = std::move(loaded).value();
  harness->setConfig(testing::configFromPairs({{"health_period", "10ms"}, {"helth", "x"}}));
  Diagnostics diagnostics = harness->configure();
  EXPECT_TRUE(diagnostics.hasErrors());
  EXPECT_NE(diagnostics.toString().find("health_period"), std::string::npos) << diagnostics.toString();
  EXPECT_NE(diagnostics.toString().find("unknown key 'helth'"), std::string::npos);
}

}  // namespace
}  // namespace hive::monitoring_engine
