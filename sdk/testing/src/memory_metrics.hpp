// In-memory metric instruments with the kernel's rules: one instrument per name and
// labels, Prometheus names, a name keeps the kind it was first created with.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hive/log.hpp"
#include "hive/metrics.hpp"

namespace hive::testing::detail {

class MemoryMetrics final : public Metrics {
 public:
  // Misuse (a bad name, a name reused for another kind) is logged to `log`, as the
  // kernel logs it, so that a test sees it in logLines().
  explicit MemoryMetrics(Logger& log);
  ~MemoryMetrics() override;

  // hive::Metrics
  Counter& counter(const std::string& name, const std::string& help, const MetricLabels& labels) override;
  Gauge& gauge(const std::string& name, const std::string& help, const MetricLabels& labels) override;
  Histogram& histogram(const std::string& name, const std::string& help, const std::vector<double>& buckets,
                       const MetricLabels& labels) override;
  std::string exposition() const override;

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Family;

  // The family `name` of `kind`, created on first use; null when the request is refused.
  Family* family(const std::string& name, const std::string& help, Kind kind,
                 const std::vector<double>& buckets);
  template <typename Instrument>
  Instrument& detached(std::unique_ptr<Instrument> instrument);

  Logger& log_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Family>> families_;
  // Instruments handed out for refused requests: they work but are never exposed.
  std::vector<std::shared_ptr<void>> detached_;
};

}  // namespace hive::testing::detail
