// The OpenMetrics rewrite and the Accept negotiation, on registry-shaped text.
#include "exposition.hpp"

#include <gtest/gtest.h>

namespace hive::monitoring_engine {
namespace {

TEST(Negotiate, PrometheusTextUnlessOpenMetricsIsAskedFor) {
  EXPECT_EQ(negotiate(nullptr), ExpositionFormat::kPrometheusText);
  std::string plain = "text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
  EXPECT_EQ(negotiate(&plain), ExpositionFormat::kPrometheusText);
  // What Prometheus 2.x sends.
  std::string prometheus =
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
      "text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
  EXPECT_EQ(negotiate(&prometheus), ExpositionFormat::kOpenMetrics);
  std::string upper = "Application/OpenMetrics-Text";
  EXPECT_EQ(negotiate(&upper), ExpositionFormat::kOpenMetrics);
  std::string refused = "application/openmetrics-text;q=0, text/plain";
  EXPECT_EQ(negotiate(&refused), ExpositionFormat::kPrometheusText);
  std::string garbage = ";;;,,,q=";
  EXPECT_EQ(negotiate(&garbage), ExpositionFormat::kPrometheusText);
}

TEST(OpenMetrics, CounterFamiliesLoseTotalAndSamplesKeepIt) {
  std::string in =
      "# HELP hive_bus_published_total Events \"published\"\n"
      "# TYPE hive_bus_published_total counter\n"
      "hive_bus_published_total 3\n"
      "# HELP legacy_requests Requests without the suffix\n"
      "# TYPE legacy_requests counter\n"
      "legacy_requests{route=\"/a\"} 1\n"
      "# TYPE api_open_connections gauge\n"
      "api_open_connections 2\n";
  EXPECT_EQ(toOpenMetrics(in),
            "# TYPE hive_bus_published counter\n"
            "# HELP hive_bus_published Events \\\"published\\\"\n"
            "hive_bus_published_total 3\n"
            "# TYPE legacy_requests counter\n"
            "# HELP legacy_requests Requests without the suffix\n"
            "legacy_requests_total{route=\"/a\"} 1\n"
            "# TYPE api_open_connections gauge\n"
            "api_open_connections 2\n"
            "# EOF\n");
}

TEST(OpenMetrics, HistogramsPassThroughAndEmptyInputIsJustEof) {
  std::string in =
      "# HELP x_seconds Time\n# TYPE x_seconds histogram\n"
      "x_seconds_bucket{le=\"0.5\"} 1\nx_seconds_bucket{le=\"+Inf\"} 2\nx_seconds_sum 1.5\nx_seconds_count "
      "2\n";
  EXPECT_EQ(toOpenMetrics(in),
            "# TYPE x_seconds histogram\n# HELP x_seconds Time\n"
            "x_seconds_bucket{le=\"0.5\"} 1\nx_seconds_bucket{le=\"+Inf\"} 2\nx_seconds_sum 1.5\n"
            "x_seconds_count 2\n# EOF\n");
  EXPECT_EQ(toOpenMetrics(""), "# EOF\n");
}

}  // namespace
}  // namespace hive::monitoring_engine
