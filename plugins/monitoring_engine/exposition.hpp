// What GET /metrics answers: the kernel registry's Prometheus text (format
// 0.0.4), or the same series in OpenMetrics 1.0 when the scraper asks for it.
#pragma once

#include <string>
#include <string_view>

namespace hive::monitoring_engine {

enum class ExpositionFormat { kPrometheusText, kOpenMetrics };

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr std::string_view kOpenMetricsContentType =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

// The format an `Accept` header asks for: OpenMetrics when it lists
// application/openmetrics-text with a q above 0 (Prometheus sends it first,
// with text/plain as the fallback), the 0.0.4 text otherwise — also when the
// header is absent or cannot be read, since every scraper reads that one.
ExpositionFormat negotiate(const std::string* accept);

// Rewrites the registry's 0.0.4 text as OpenMetrics 1.0:
//   - a counter family is named without `_total` in # TYPE/# HELP and every
//     sample of it ends in `_total` (a counter registered without the suffix
//     gets it on its samples: OpenMetrics requires it);
//   - `"` in HELP is escaped (0.0.4 escapes only `\` and newlines);
//   - `# EOF` ends the exposition.
// The input is what MetricsRegistry::exposition() writes: one # HELP (maybe)
// and one # TYPE line before each family's samples. Lines it does not
// recognise are copied unchanged.
std::string toOpenMetrics(std::string_view prometheusText);

}  // namespace hive::monitoring_engine
