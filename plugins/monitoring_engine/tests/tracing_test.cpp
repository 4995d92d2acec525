// tracing.hpp on its own: the config and which events make spans (the export
// to a real receiver is tests/e2e/monitoring_traces_e2e.py).
#include "tracing.hpp"

#include <gtest/gtest.h>

#include "hive/testing/harness.hpp"

namespace hive::monitoring_engine {
namespace {

ConfigNode tracingSection(const std::string& endpoint) {
  ConfigNode section = ConfigNode::map();
  section.set("endpoint", ConfigNode::scalar(endpoint));
  return section;
}

TEST(Tracing, AnEndpointIsAnHttpOrHttpsUrl) {
  Diagnostics diagnostics;
  TracingSettings settings =
      readTracingSettings(tracingSection("http://127.0.0.1:4318/v1/traces"), diagnostics);
  EXPECT_FALSE(diagnostics.hasErrors()) << diagnostics.toString();
  EXPECT_EQ(settings.collector.endpoint.port, "4318");
  EXPECT_EQ(settings.collector.endpoint.target, "/v1/traces");
  EXPECT_FALSE(settings.collector.endpoint.tls);
  Diagnostics secure;
  settings = readTracingSettings(tracingSection("https://collector/v1/traces"), secure);
  EXPECT_FALSE(secure.hasErrors()) << secure.toString();
  EXPECT_TRUE(settings.collector.endpoint.tls);
  EXPECT_EQ(settings.collector.endpoint.port, "443");
  Diagnostics refused;
  (void)readTracingSettings(tracingSection("ftp://collector:4318/v1/traces"), refused);
  EXPECT_NE(refused.toString().find("must start with http:// or https://"), std::string::npos)
      << refused.toString();
}

// Task spans exported to a collector that refuses every connection (port 1 on
// loopback), one span a batch: each span made shows as one dropped.
struct DeadCollector {
  DeadCollector() {
    Diagnostics diagnostics;
    TracingSettings settings =
        readTracingSettings(tracingSection("http://127.0.0.1:1/v1/traces"), diagnostics);
    settings.period = std::chrono::milliseconds(100);
    settings.batch = 1;
    exporter = std::make_shared<SpanExporter>(settings, harness->context().log(), harness->metrics());
  }
  Counter& counter(const std::string& name) { return harness->metrics().counter(name, ""); }

  std::unique_ptr<testing::PluginHarness> harness =
      std::move(testing::PluginHarness::loadLibrary(MONITORING_ENGINE_PLUGIN)).value();
  std::shared_ptr<SpanExporter> exporter;
};

TEST(Tracing, OnlyTasksWithAValidTraceparentMakeSpansAndADeadCollectorIsCounted) {
  DeadCollector collector;
  auto& exporter = collector.exporter;
  TaskSpans spans(exporter, 10);
  auto event = [](const std::string& name, const std::string& status, const std::string& trace) {
    return R"({"event":")" + name + R"(","task":{"id":"t1","type":"x","status":")" + status +
           R"(","agent":"a","created_at_ms":1000,"updated_at_ms":2000,"started_at_ms":1500,"finished_at_ms":2000)" +
           (trace.empty() ? std::string() : R"(,"traceparent":")" + trace + "\"") + "}}";
  };
  spans.record(event("task.succeeded", "succeeded", ""));
  spans.record(
      event("task.succeeded", "succeeded", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  spans.record(event("task.succeeded", "succeeded", "garbage"));
  const std::string trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  spans.record(event("task.running", "running", trace));
  spans.record(event("task.succeeded", "succeeded", trace));  // a run span and the task span
  auto& failures = collector.counter("hive_trace_export_failures_total");
  auto& dropped = collector.counter("hive_trace_spans_dropped_total");
  for (int i = 0; i < 100 && dropped.value() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  exporter->stop();
  EXPECT_EQ(dropped.value(), 2) << "two spans, both refused by the dead collector";
  EXPECT_GE(failures.value(), 1);
  EXPECT_EQ(collector.counter("hive_trace_spans_exported_total").value(), 0);
}

// The agent's accept and result in one burst: the task goes from assigned to
// succeeded without a `running` of its own. Its attempt still gets a run span
// (from its assignment), next to the dispatch span and the task's span.
TEST(Tracing, AnAttemptWhoseStartCameWithItsEndGetsARunSpan) {
  DeadCollector collector;
  auto& exporter = collector.exporter;
  TaskSpans spans(exporter, 10);
  const std::string trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto event = [&](const std::string& name, const std::string& status) {
    return R"({"event":")" + name + R"(","task":{"id":"t1","type":"x","status":")" + status +
           R"(","agent":"a","created_at_ms":1000,"updated_at_ms":2000,"finished_at_ms":2000,"traceparent":")" +
           trace + "\"}}";
  };
  spans.record(event("task.assigned", "assigned"));
  spans.record(event("task.succeeded", "succeeded"));
  auto& dropped = collector.counter("hive_trace_spans_dropped_total");
  for (int i = 0; i < 100 && dropped.value() < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // nothing more comes
  exporter->stop();
  EXPECT_EQ(dropped.value(), 3) << "dispatch, run and task spans";
}

}  // namespace
}  // namespace hive::monitoring_engine
