#include "host/metrics.hpp"

#include <cmath>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace hive::host {
namespace {

class MetricsRegistryTest : public ::testing::Test {
 protected:
  hive::test::RecordingLogger log_;
  MetricsRegistry registry_{log_};
};

TEST_F(MetricsRegistryTest, ExpositionOfASmallSetIsExact) {
  registry_.counter("hive_requests_total", "Requests served", {{"route", "/a"}, {"code", "200"}})
      .increment(3);
  registry_.counter("hive_requests_total", "Requests served", {{"code", "500"}, {"route", "/a"}}).increment();
  registry_.gauge("hive_up", "Up").set(1);
  auto& latency = registry_.histogram("hive_latency_seconds", "Latency", {0.1, 0.5, 1}, {{"plugin", "api"}});
  for (double v : {0.0625, 0.25, 0.25, 2.0}) latency.observe(v);

  EXPECT_EQ(registry_.exposition(),
            "# HELP hive_latency_seconds Latency\n"
            "# TYPE hive_latency_seconds histogram\n"
            "hive_latency_seconds_bucket{plugin=\"api\",le=\"0.1\"} 1\n"
            "hive_latency_seconds_bucket{plugin=\"api\",le=\"0.5\"} 3\n"
            "hive_latency_seconds_bucket{plugin=\"api\",le=\"1\"} 3\n"
            "hive_latency_seconds_bucket{plugin=\"api\",le=\"+Inf\"} 4\n"
            "hive_latency_seconds_sum{plugin=\"api\"} 2.5625\n"
            "hive_latency_seconds_count{plugin=\"api\"} 4\n"
            "# HELP hive_requests_total Requests served\n"
            "# TYPE hive_requests_total counter\n"
            "hive_requests_total{code=\"200\",route=\"/a\"} 3\n"
            "hive_requests_total{code=\"500\",route=\"/a\"} 1\n"
            "# HELP hive_up Up\n"
            "# TYPE hive_up gauge\n"
            "hive_up 1\n");
  EXPECT_TRUE(log_.messages().empty());
}

TEST_F(MetricsRegistryTest, EmptyRegistryExportsNothing) { EXPECT_EQ(registry_.exposition(), ""); }

TEST_F(MetricsRegistryTest, SameNameAndLabelsGiveTheSameInstrument) {
  auto& a = registry_.counter("c_total", "help", {{"x", "1"}, {"y", "2"}});
  auto& b = registry_.counter("c_total", "other help", {{"y", "2"}, {"x", "1"}});
  auto& c = registry_.counter("c_total", "help", {{"x", "1"}, {"y", "3"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  a.increment(2);
  b.increment(0.5);
  EXPECT_DOUBLE_EQ(a.value(), 2.5);
  EXPECT_NE(registry_.exposition().find("# HELP c_total help\n"), std::string::npos) << "first help wins";
}

TEST_F(MetricsRegistryTest, GaugeSetAndAdd) {
  auto& gauge = registry_.gauge("queue_depth", "Depth");
  gauge.set(10);
  gauge.add(-3.5);
  EXPECT_DOUBLE_EQ(gauge.value(), 6.5);
}

TEST_F(MetricsRegistryTest, ValuesAreFormattedLikeTheReferenceClient) {
  auto set = [&](const std::string& label, double v) { registry_.gauge("g", "", {{"v", label}}).set(v); };
  set("a", 1234567);
  set("b", 123456);
  set("c", 1e-05);
  set("d", -2.5);
  set("e", std::numeric_limits<double>::infinity());
  set("f", -std::numeric_limits<double>::infinity());
  set("g", std::nan(""));
  set("h", 0.1);
  EXPECT_EQ(registry_.exposition(),
            "# TYPE g gauge\n"
            "g{v=\"a\"} 1.234567e+06\n"
            "g{v=\"b\"} 123456\n"
            "g{v=\"c\"} 1e-05\n"
            "g{v=\"d\"} -2.5\n"
            "g{v=\"e\"} +Inf\n"
            "g{v=\"f\"} -Inf\n"
            "g{v=\"g\"} NaN\n"
            "g{v=\"h\"} 0.1\n");
}

TEST_F(MetricsRegistryTest, HistogramBucketsAreCumulativeWithDefaults) {
  auto& histogram = registry_.histogram("latency_seconds", "");
  histogram.observe(0.0005);  // on a bound: counted in that bucket (le)
  histogram.observe(0.003);
  histogram.observe(7);
  histogram.observe(100);
  EXPECT_EQ(histogram.count(), 4u);
  EXPECT_NEAR(histogram.sum(), 107.0035, 1e-9);

  const std::vector<std::pair<std::string, int>> expected{
      {"0.0005", 1}, {"0.001", 1}, {"0.0025", 1}, {"0.005", 2}, {"0.01", 2},
      {"0.025", 2},  {"0.05", 2},  {"0.1", 2},    {"0.25", 2},  {"0.5", 2},
      {"1", 2},      {"2.5", 2},   {"5", 2},      {"10", 3},    {"+Inf", 4}};
  std::string buckets;
  for (const auto& [le, count] : expected) {
    buckets += "latency_seconds_bucket{le=\"" + le + "\"} " + std::to_string(count) + "\n";
  }
  std::string text = registry_.exposition();
  EXPECT_EQ(text.rfind("# TYPE latency_seconds histogram\n" + buckets + "latency_seconds_sum 107.00", 0), 0u)
      << text;
  EXPECT_TRUE(text.ends_with("\nlatency_seconds_count 4\n")) << text;
  EXPECT_EQ(MetricsRegistry::defaultBuckets().size(), 14u);
}

TEST_F(MetricsRegistryTest, ExplicitInfBucketIsAccepted) {
  auto& a = registry_.histogram("h", "", {1, std::numeric_limits<double>::infinity()});
  auto& b = registry_.histogram("h", "", {1});
  EXPECT_EQ(&a, &b);
  a.observe(3);
  EXPECT_NE(registry_.exposition().find("h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\n"),
            std::string::npos);
}

TEST_F(MetricsRegistryTest, EscapesLabelValuesAndHelp) {
  registry_.counter("escaped_total", "Back\\slash and\nnewline \"quoted\"", {{"path", "a\\b\"c\nd"}})
      .increment();
  EXPECT_EQ(registry_.exposition(),
            "# HELP escaped_total Back\\\\slash and\\nnewline \"quoted\"\n"
            "# TYPE escaped_total counter\n"
            "escaped_total{path=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST_F(MetricsRegistryTest, InvalidNamesGiveWorkingDetachedInstruments) {
  for (const std::string name : {"", "1abc", "a-b", "a b", "ü"}) {
    auto& counter = registry_.counter(name, "bad");
    counter.increment(2);
    EXPECT_DOUBLE_EQ(counter.value(), 2) << name;
  }
  auto& badLabel = registry_.gauge("ok_gauge", "", {{"bad-label", "x"}});
  badLabel.set(4);
  EXPECT_DOUBLE_EQ(badLabel.value(), 4);
  (void)registry_.gauge("ok_gauge", "", {{"__reserved", "x"}});
  (void)registry_.gauge("ok_gauge", "", {{"a", "1"}, {"a", "2"}});
  (void)registry_.histogram("ok_histogram", "", {}, {{"le", "1"}});
  (void)registry_.histogram("unsorted", "", {1, 0.5});
  (void)registry_.histogram("nan_bucket", "", {std::nan("")});

  EXPECT_EQ(registry_.exposition(), "");
  auto messages = log_.messages();
  ASSERT_EQ(messages.size(), 11u);
  EXPECT_NE(messages[1].find("'1abc' "), std::string::npos);
  EXPECT_NE(messages[1].find("invalid metric name"), std::string::npos) << messages[1];
  EXPECT_NE(messages[5].find("invalid label name 'bad-label'"), std::string::npos) << messages[5];
  EXPECT_NE(messages[6].find("invalid label name '__reserved'"), std::string::npos) << messages[6];
  EXPECT_NE(messages[7].find("given twice"), std::string::npos) << messages[7];
  EXPECT_NE(messages[8].find("reserved"), std::string::npos) << messages[8];
  EXPECT_NE(messages[9].find("strictly ascending"), std::string::npos) << messages[9];
  EXPECT_NE(messages[10].find("finite"), std::string::npos) << messages[10];
}

TEST_F(MetricsRegistryTest, RepeatingABadRequestReusesTheDetachedInstrumentAndLogsOnce) {
  auto& a = registry_.counter("bad-name", "");
  auto& b = registry_.counter("bad-name", "");
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(log_.messages().size(), 1u);
}

TEST_F(MetricsRegistryTest, SameNameWithAnotherKindIsDetachedAndLogged) {
  auto& counter = registry_.counter("shared_name", "a counter");
  counter.increment();
  auto& gauge = registry_.gauge("shared_name", "a gauge");
  gauge.set(42);
  EXPECT_DOUBLE_EQ(gauge.value(), 42);
  auto& histogram = registry_.histogram("shared_name", "a histogram");
  histogram.observe(1);
  EXPECT_EQ(histogram.count(), 1u);

  EXPECT_EQ(registry_.exposition(),
            "# HELP shared_name a counter\n# TYPE shared_name counter\nshared_name 1\n");
  auto messages = log_.messages();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_NE(messages[0].find("already registered as a counter"), std::string::npos) << messages[0];
}

TEST_F(MetricsRegistryTest, HistogramWithOtherBucketsIsDetached) {
  auto& first = registry_.histogram("h_seconds", "", {1, 2});
  auto& second = registry_.histogram("h_seconds", "", {1, 3}, {{"other", "series"}});
  EXPECT_NE(&first, &second);
  ASSERT_EQ(log_.messages().size(), 1u);
  EXPECT_NE(log_.messages()[0].find("other buckets"), std::string::npos);
}

TEST_F(MetricsRegistryTest, NegativeCounterIncrementIsIgnoredAndReportedOnce) {
  auto& counter = registry_.counter("c_total", "");
  counter.increment(5);
  counter.increment(-1);
  counter.increment(std::nan(""));
  EXPECT_DOUBLE_EQ(counter.value(), 5);
  EXPECT_EQ(log_.messages().size(), 1u);
}

TEST_F(MetricsRegistryTest, ConcurrentIncrementsAreExact) {
  constexpr int kThreads = 8;
  constexpr int kIncrements = 100000;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Every thread looks the instruments up itself: registration races too.
      auto& counter = registry_.counter("hits_total", "Hits");
      auto& gauge = registry_.gauge("level", "Level");
      auto& histogram = registry_.histogram("size_bytes", "Sizes", {10, 100});
      for (int i = 0; i < kIncrements; ++i) {
        counter.increment();
        gauge.add(t % 2 == 0 ? 1 : -1);
        histogram.observe(i % 3 == 0 ? 5 : 50);
      }
    });
  }
  // Exposition may run while the hot paths are busy.
  for (int i = 0; i < 20; ++i) (void)registry_.exposition();
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(registry_.counter("hits_total", "Hits").value(), kThreads * kIncrements);
  EXPECT_EQ(registry_.gauge("level", "Level").value(), 0);
  auto& histogram = registry_.histogram("size_bytes", "Sizes", {10, 100});
  EXPECT_EQ(histogram.count(), static_cast<std::uint64_t>(kThreads) * kIncrements);
  const double small = kThreads * 33334.0;  // i % 3 == 0 for 33334 of 100000 values of i
  EXPECT_EQ(histogram.sum(), small * 5 + (kThreads * kIncrements - small) * 50);
  EXPECT_NE(registry_.exposition().find("hits_total 800000\n"), std::string::npos);
}

}  // namespace
}  // namespace hive::host
