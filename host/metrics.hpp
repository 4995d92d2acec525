// The kernel's metrics registry: instruments live here, not in plugins, so that a
// reloaded plugin asking for the same name and labels continues the same series.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "hive/log.hpp"
#include "hive/metrics.hpp"

namespace hive::host {

// Registration takes a lock; increment/set/add/observe are lock-free atomics.
//
// A request that cannot be exported — an invalid metric or label name, a label given
// twice, the reserved label `le` on a histogram, buckets that are not strictly
// ascending, a name already used by another kind or by a histogram with other buckets —
// gets a detached instrument: it works but never appears in exposition(). The problem
// is logged once (warn) to the kernel logger; repeating the same bad request returns the
// same detached instrument, so a plugin calling it per request neither grows memory nor
// floods the log.
class MetricsRegistry final : public hive::Metrics {
 public:
  explicit MetricsRegistry(hive::Logger& kernelLog);
  ~MetricsRegistry() override;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // hive::Metrics
  hive::Counter& counter(const std::string& name, const std::string& help,
                         const hive::MetricLabels& labels = {}) override;
  hive::Gauge& gauge(const std::string& name, const std::string& help,
                     const hive::MetricLabels& labels = {}) override;
  hive::Histogram& histogram(const std::string& name, const std::string& help,
                             const std::vector<double>& buckets = {},
                             const hive::MetricLabels& labels = {}) override;
  // Families sorted by name, series by their label sets; labels in name order.
  std::string exposition() const override;

  // 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 (seconds).
  static const std::vector<double>& defaultBuckets();

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  using LabelSet = std::vector<std::pair<std::string, std::string>>;  // sorted by label name
  class Instrument;
  class CounterImpl;
  class GaugeImpl;
  class HistogramImpl;
  struct Family {
    Kind kind;
    std::string help;
    std::vector<double> buckets;  // histograms only
    std::map<LabelSet, std::unique_ptr<Instrument>> series;
  };
  struct DetachedKey {
    Kind kind;
    std::string name;
    LabelSet labels;
    bool operator<(const DetachedKey& other) const {
      return std::tie(kind, name, labels) < std::tie(other.kind, other.name, other.labels);
    }
  };

  Instrument& find(Kind kind, const std::string& name, const std::string& help,
                   const hive::MetricLabels& labels, const std::vector<double>& buckets);
  std::unique_ptr<Instrument> make(Kind kind, const std::string& name, const std::vector<double>& buckets);
  static std::string_view kindName(Kind kind);

  hive::Logger& log_;
  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
  std::map<DetachedKey, std::unique_ptr<Instrument>> detached_;
};

}  // namespace hive::host
