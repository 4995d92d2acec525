#include "memory_metrics.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

namespace hive::testing::detail {
namespace {

bool isMetricName(const std::string& name) {
  auto first = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
  };
  if (name.empty() || !first(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return first(c) || (c >= '0' && c <= '9'); });
}

bool isLabelName(const std::string& name) {
  auto first = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (name.empty() || !first(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return first(c) || (c >= '0' && c <= '9'); });
}

std::string number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return error == std::errc() ? std::string(buffer, end) : std::to_string(value);
}

std::string escapeLabelValue(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

// {a="1",b="2"} with an optional extra label (a histogram bucket's `le`).
std::string labelText(const MetricLabels& labels, const std::string& extraName = {},
                      const std::string& extraValue = {}) {
  MetricLabels all = labels;
  if (!extraName.empty()) all.emplace_back(extraName, extraValue);
  if (all.empty()) return {};
  std::string out = "{";
  for (std::size_t i = 0; i < all.size(); ++i)
    out += (i ? "," : "") + all[i].first + "=\"" + escapeLabelValue(all[i].second) + "\"";
  return out + "}";
}

void atomicAdd(std::atomic<double>& target, double amount) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + amount, std::memory_order_relaxed)) {
  }
}

class MemoryCounter final : public Counter {
 public:
  void increment(double amount) override {
    // The contract says amount >= 0; a counter never goes down, whatever the caller passes.
    if (amount > 0) atomicAdd(value_, amount);
  }
  double value() const override { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class MemoryGauge final : public Gauge {
 public:
  void set(double value) override { value_.store(value, std::memory_order_relaxed); }
  void add(double delta) override { atomicAdd(value_, delta); }
  double value() const override { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class MemoryHistogram final : public Histogram {
 public:
  explicit MemoryHistogram(std::vector<double> bounds)
      : bounds_(std::move(bounds)),
        buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size())) {}

  void observe(double value) override {
    for (std::size_t i = 0; i < bounds_.size(); ++i)
      if (value <= bounds_[i]) buckets_[i].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    atomicAdd(sum_, value);
  }
  std::uint64_t count() const override { return count_.load(std::memory_order_relaxed); }
  double sum() const override { return sum_.load(std::memory_order_relaxed); }

  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative, as the exposition format wants it.
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

std::vector<double> bucketBounds(std::vector<double> buckets) {
  if (buckets.empty())
    return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  std::sort(buckets.begin(), buckets.end());
  buckets.erase(std::unique(buckets.begin(), buckets.end()), buckets.end());
  std::erase_if(buckets, [](double b) { return std::isnan(b) || std::isinf(b); });
  return buckets;
}

}  // namespace

struct MemoryMetrics::Family {
  Kind kind;
  std::string help;
  std::vector<double> bounds;  // histograms only
  std::map<MetricLabels, std::unique_ptr<Counter>> counters;
  std::map<MetricLabels, std::unique_ptr<Gauge>> gauges;
  std::map<MetricLabels, std::unique_ptr<MemoryHistogram>> histograms;
};

MemoryMetrics::MemoryMetrics(Logger& log) : log_(log) {}
MemoryMetrics::~MemoryMetrics() = default;

MemoryMetrics::Family* MemoryMetrics::family(const std::string& name, const std::string& help, Kind kind,
                                             const std::vector<double>& buckets) {
  if (!isMetricName(name)) {
    log_.error("metric '" + name +
               "': not a valid Prometheus name ([a-zA-Z_:][a-zA-Z0-9_:]*); instrument detached");
    return nullptr;
  }
  auto& slot = families_[name];
  if (!slot) {
    slot = std::make_unique<Family>();
    slot->kind = kind;
    slot->help = help;
    if (kind == Kind::kHistogram) slot->bounds = bucketBounds(buckets);
  } else if (slot->kind != kind) {
    log_.error("metric '" + name + "' already exists as another kind of instrument; instrument detached");
    return nullptr;
  }
  return slot.get();
}

template <typename Instrument>
Instrument& MemoryMetrics::detached(std::unique_ptr<Instrument> instrument) {
  std::shared_ptr<Instrument> shared(std::move(instrument));
  detached_.push_back(shared);
  return *shared;
}

namespace {
bool validLabels(const MetricLabels& labels) {
  return std::all_of(labels.begin(), labels.end(), [](const auto& l) { return isLabelName(l.first); });
}
}  // namespace

Counter& MemoryMetrics::counter(const std::string& name, const std::string& help,
                                const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  Family* f = validLabels(labels) ? family(name, help, Kind::kCounter, {}) : nullptr;
  if (f == nullptr) return detached(std::make_unique<MemoryCounter>());
  auto& instrument = f->counters[labels];
  if (!instrument) instrument = std::make_unique<MemoryCounter>();
  return *instrument;
}

Gauge& MemoryMetrics::gauge(const std::string& name, const std::string& help, const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  Family* f = validLabels(labels) ? family(name, help, Kind::kGauge, {}) : nullptr;
  if (f == nullptr) return detached(std::make_unique<MemoryGauge>());
  auto& instrument = f->gauges[labels];
  if (!instrument) instrument = std::make_unique<MemoryGauge>();
  return *instrument;
}

Histogram& MemoryMetrics::histogram(const std::string& name, const std::string& help,
                                    const std::vector<double>& buckets, const MetricLabels& labels) {
  std::lock_guard lock(mutex_);
  Family* f = validLabels(labels) ? family(name, help, Kind::kHistogram, buckets) : nullptr;
  if (f == nullptr) return detached(std::make_unique<MemoryHistogram>(bucketBounds(buckets)));
  auto& instrument = f->histograms[labels];
  if (!instrument) instrument = std::make_unique<MemoryHistogram>(f->bounds);
  return *instrument;
}

std::string MemoryMetrics::exposition() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, f] : families_) {
    static constexpr const char* kTypes[] = {"counter", "gauge", "histogram"};
    out += "# HELP " + name + " " + f->help + "\n";
    out += "# TYPE " + name + " " + kTypes[static_cast<int>(f->kind)] + "\n";
    for (const auto& [labels, c] : f->counters)
      out += name + labelText(labels) + " " + number(c->value()) + "\n";
    for (const auto& [labels, g] : f->gauges)
      out += name + labelText(labels) + " " + number(g->value()) + "\n";
    for (const auto& [labels, h] : f->histograms) {
      for (std::size_t i = 0; i < h->bounds().size(); ++i)
        out += name + "_bucket" + labelText(labels, "le", number(h->bounds()[i])) + " " +
               std::to_string(h->bucket(i)) + "\n";
      out += name + "_bucket" + labelText(labels, "le", "+Inf") + " " + std::to_string(h->count()) + "\n";
      out += name + "_sum" + labelText(labels) + " " + number(h->sum()) + "\n";
      out += name + "_count" + labelText(labels) + " " + std::to_string(h->count()) + "\n";
    }
  }
  return out;
}

}  // namespace hive::testing::detail
