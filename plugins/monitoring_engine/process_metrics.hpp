// The process's own series (process_cpu_seconds_total, resident memory, open
// file descriptors, start time), with the names every Prometheus client library
// uses, so that standard dashboards and alerts work on Hive unchanged. Read
// from /proc at scrape time: nothing runs between scrapes.
#pragma once

#include "hive/metrics.hpp"

namespace hive::monitoring_engine {

class ProcessMetrics {
 public:
  explicit ProcessMetrics(Metrics& metrics);
  // Refreshes the series from /proc/self; a file that cannot be read leaves
  // its series as they were.
  void update();

 private:
  Counter& cpuSeconds_;
  Gauge& residentBytes_;
  Gauge& virtualBytes_;
  Gauge& openDescriptors_;
  Gauge& maxDescriptors_;
  Gauge& startTime_;
  Gauge& threads_;
};

}  // namespace hive::monitoring_engine
