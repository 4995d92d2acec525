// Metrics primitives. Instruments are created and owned by the kernel, so they
// outlive any plugin generation: a reloaded plugin that asks for the same name and
// labels gets the same instrument and its counts continue.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hive {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// All instrument methods are thread-safe and lock-free.
class Counter {
 public:
  virtual ~Counter() = default;
  virtual void increment(double amount = 1.0) = 0;  // amount >= 0
  virtual double value() const = 0;
};

class Gauge {
 public:
  virtual ~Gauge() = default;
  virtual void set(double value) = 0;
  virtual void add(double delta) = 0;
  virtual double value() const = 0;
};

class Histogram {
 public:
  virtual ~Histogram() = default;
  virtual void observe(double value) = 0;
  virtual std::uint64_t count() const = 0;
  virtual double sum() const = 0;
};

// Names follow Prometheus rules ([a-zA-Z_:][a-zA-Z0-9_:]*). Asking twice for the
// same name and labels returns the same instrument; asking for a name already
// used by another kind of instrument returns a detached instrument and logs it.
class Metrics {
 public:
  virtual ~Metrics() = default;
  virtual Counter& counter(const std::string& name, const std::string& help,
                           const MetricLabels& labels = {}) = 0;
  virtual Gauge& gauge(const std::string& name, const std::string& help, const MetricLabels& labels = {}) = 0;
  // `buckets` are upper bounds in ascending order; empty means a default set of
  // latency buckets in seconds (0.0005 … 10).
  virtual Histogram& histogram(const std::string& name, const std::string& help,
                               const std::vector<double>& buckets = {}, const MetricLabels& labels = {}) = 0;
  // Prometheus text exposition format 0.0.4 of every instrument.
  virtual std::string exposition() const = 0;
};

}  // namespace hive
