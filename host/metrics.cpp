#include "host/metrics.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

namespace hive::host {

namespace {

bool isNameStart(char c, bool allowColon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allowColon && c == ':');
}

bool isNameChar(char c, bool allowColon) { return isNameStart(c, allowColon) || (c >= '0' && c <= '9'); }

bool validName(std::string_view name, bool allowColon) {
  if (name.empty() || !isNameStart(name.front(), allowColon)) return false;
  return std::all_of(name.begin() + 1, name.end(), [&](char c) { return isNameChar(c, allowColon); });
}

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool validMetricName(std::string_view name) { return validName(name, true); }

// [a-zA-Z_][a-zA-Z0-9_]*, and names starting with "__" are reserved for Prometheus itself.
bool validLabelName(std::string_view name) { return validName(name, false) && !name.starts_with("__"); }

// What Go's strconv.FormatFloat(v, 'g', -1, 64) prints — the reference client's format —
// so that `le` values and samples look the same as from any other exporter.
std::string formatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  auto scientific = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  std::string_view text(buffer, static_cast<std::size_t>(scientific.ptr - buffer));
  std::size_t e = text.find('e');
  std::string_view exponentText = text.substr(e + 1);
  if (!exponentText.empty() && exponentText.front() == '+') exponentText.remove_prefix(1);
  int exponent = 0;
  std::from_chars(exponentText.data(), exponentText.data() + exponentText.size(), exponent);
  if (exponent < -4 || exponent >= 6) return std::string(text);
  int digits = static_cast<int>(std::count_if(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(e),
                                              [](char c) { return c >= '0' && c <= '9'; }));
  int precision = std::max(0, digits - 1 - exponent);
  auto fixed = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, precision);
  return std::string(buffer, fixed.ptr);
}

void appendEscapedLabelValue(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void appendEscapedHelp(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

using LabelPairs = std::vector<std::pair<std::string, std::string>>;

// `name{a="1",b="2"} value` — `extraName` (the histogram's `le`) goes last, as clients do.
void appendSample(std::string& out, std::string_view name, const LabelPairs& labels, std::string_view value,
                  std::string_view extraName = {}, std::string_view extraValue = {}) {
  out += name;
  if (!labels.empty() || !extraName.empty()) {
    out += '{';
    bool first = true;
    auto appendLabel = [&](std::string_view labelName, std::string_view labelValue) {
      if (!first) out += ',';
      first = false;
      out += labelName;
      out += "=\"";
      appendEscapedLabelValue(out, labelValue);
      out += '"';
    };
    for (const auto& [labelName, labelValue] : labels) appendLabel(labelName, labelValue);
    if (!extraName.empty()) appendLabel(extraName, extraValue);
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

std::string describe(std::string_view name, const LabelPairs& labels) {
  std::string text(name);
  if (labels.empty()) return text;
  text += '{';
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) text += ',';
    text += labels[i].first;
    text += "=\"";
    appendEscapedLabelValue(text, labels[i].second);
    text += '"';
  }
  text += '}';
  return text;
}

// A contract violation on a hot path: dropped, and said once per instrument rather than
// once per call.
class Complaint {
 public:
  void once(hive::Logger& log, std::string_view name, std::string_view what) {
    if (said_.exchange(true, std::memory_order_relaxed)) return;
    log.warn("metrics: " + std::string(name) + ": " + std::string(what) + " ignored (reported once)");
  }

 private:
  std::atomic<bool> said_{false};
};

}  // namespace

class MetricsRegistry::Instrument {
 public:
  Instrument(hive::Logger& log, std::string name) : log_(log), name_(std::move(name)) {}
  virtual ~Instrument() = default;
  virtual void write(std::string& out, const LabelSet& labels) const = 0;

 protected:
  hive::Logger& log_;
  const std::string name_;
  Complaint complaint_;
};

class MetricsRegistry::CounterImpl final : public Instrument, public hive::Counter {
 public:
  using Instrument::Instrument;

  // hive::Counter
  void increment(double amount) override {
    if (!(amount >= 0)) {  // also catches NaN
      complaint_.once(log_, name_, "negative or NaN counter increment");
      return;
    }
    value_.fetch_add(amount, std::memory_order_relaxed);
  }
  double value() const override { return value_.load(std::memory_order_relaxed); }

  void write(std::string& out, const LabelSet& labels) const override {
    appendSample(out, name_, labels, formatValue(value()));
  }

 private:
  std::atomic<double> value_{0.0};
};

class MetricsRegistry::GaugeImpl final : public Instrument, public hive::Gauge {
 public:
  using Instrument::Instrument;

  // hive::Gauge
  void set(double value) override { value_.store(value, std::memory_order_relaxed); }
  void add(double delta) override { value_.fetch_add(delta, std::memory_order_relaxed); }
  double value() const override { return value_.load(std::memory_order_relaxed); }

  void write(std::string& out, const LabelSet& labels) const override {
    appendSample(out, name_, labels, formatValue(value()));
  }

 private:
  std::atomic<double> value_{0.0};
};

class MetricsRegistry::HistogramImpl final : public Instrument, public hive::Histogram {
 public:
  HistogramImpl(hive::Logger& log, std::string name, std::vector<double> bounds)
      : Instrument(log, std::move(name)),
        bounds_(std::move(bounds)),
        counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

  // hive::Histogram
  void observe(double value) override {
    if (std::isnan(value)) {  // would turn _sum into NaN for good
      complaint_.once(log_, name_, "NaN observation");
      return;
    }
    auto bucket =
        static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
    counts_[bucket].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
  }
  // Derived from the buckets, so that _count always equals the +Inf bucket.
  std::uint64_t count() const override {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) total += counts_[i].load(std::memory_order_relaxed);
    return total;
  }
  double sum() const override { return sum_.load(std::memory_order_relaxed); }

  void write(std::string& out, const LabelSet& labels) const override {
    std::string bucketName = name_ + "_bucket";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < bounds_.size(); ++i) {
      cumulative += counts_[i].load(std::memory_order_relaxed);
      appendSample(out, bucketName, labels, std::to_string(cumulative), "le", formatValue(bounds_[i]));
    }
    cumulative += counts_[bounds_.size()].load(std::memory_order_relaxed);
    appendSample(out, bucketName, labels, std::to_string(cumulative), "le", "+Inf");
    appendSample(out, name_ + "_sum", labels, formatValue(sum()));
    appendSample(out, name_ + "_count", labels, std::to_string(cumulative));
  }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // per bucket, not cumulative; last is +Inf
  std::atomic<double> sum_{0.0};
};

MetricsRegistry::MetricsRegistry(hive::Logger& kernelLog) : log_(kernelLog) {}

std::string_view MetricsRegistry::kindName(Kind kind) {
  switch (kind) {
    case Kind::kCounter: return "counter";
    case Kind::kGauge: return "gauge";
    case Kind::kHistogram: return "histogram";
  }
  return "untyped";
}

MetricsRegistry::~MetricsRegistry() = default;

const std::vector<double>& MetricsRegistry::defaultBuckets() {
  static const std::vector<double> kBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return kBuckets;
}

hive::Counter& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                        const hive::MetricLabels& labels) {
  return static_cast<CounterImpl&>(find(Kind::kCounter, name, help, labels, {}));
}

hive::Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                                    const hive::MetricLabels& labels) {
  return static_cast<GaugeImpl&>(find(Kind::kGauge, name, help, labels, {}));
}

hive::Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                            const std::vector<double>& buckets,
                                            const hive::MetricLabels& labels) {
  return static_cast<HistogramImpl&>(find(Kind::kHistogram, name, help, labels, buckets));
}

std::unique_ptr<MetricsRegistry::Instrument> MetricsRegistry::make(Kind kind, const std::string& name,
                                                                   const std::vector<double>& buckets) {
  switch (kind) {
    case Kind::kCounter: return std::make_unique<CounterImpl>(log_, name);
    case Kind::kGauge: return std::make_unique<GaugeImpl>(log_, name);
    case Kind::kHistogram: return std::make_unique<HistogramImpl>(log_, name, buckets);
  }
  return nullptr;
}

MetricsRegistry::Instrument& MetricsRegistry::find(Kind kind, const std::string& name,
                                                   const std::string& help, const hive::MetricLabels& labels,
                                                   const std::vector<double>& buckets) {
  LabelSet sorted(labels.begin(), labels.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });

  std::string problem;
  if (!validMetricName(name)) problem = "invalid metric name";
  for (std::size_t i = 0; problem.empty() && i < sorted.size(); ++i) {
    const std::string& labelName = sorted[i].first;
    if (!validLabelName(labelName)) {
      problem = "invalid label name '" + labelName + "'";
    } else if (i > 0 && sorted[i - 1].first == labelName) {
      problem = "label '" + labelName + "' given twice";
    } else if (kind == Kind::kHistogram && labelName == "le") {
      problem = "label 'le' is reserved for histogram buckets";
    }
  }

  std::vector<double> bounds;
  if (kind == Kind::kHistogram) {
    bounds = buckets.empty() ? defaultBuckets() : buckets;
    // +Inf is always exported; accept it from callers who list it explicitly.
    if (!bounds.empty() && bounds.back() == std::numeric_limits<double>::infinity()) bounds.pop_back();
    for (std::size_t i = 0; problem.empty() && i < bounds.size(); ++i) {
      if (!std::isfinite(bounds[i])) {
        problem = "histogram buckets must be finite";
      } else if (i > 0 && !(bounds[i - 1] < bounds[i])) {
        problem = "histogram buckets must be strictly ascending";
      }
    }
  }

  std::string warning;
  Instrument* instrument = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (problem.empty()) {
      auto [family, created] = families_.try_emplace(name, Family{kind, help, bounds, {}});
      if (!created && family->second.kind != kind) {
        problem = "already registered as a " + std::string(kindName(family->second.kind));
      } else if (!created && family->second.buckets != bounds) {
        problem = "already registered with other buckets";
      } else {
        if (family->second.help.empty()) family->second.help = help;
        auto& slot = family->second.series[sorted];
        if (!slot) slot = make(kind, name, bounds);
        instrument = slot.get();
      }
    }
    if (instrument == nullptr) {
      auto [entry, created] = detached_.try_emplace(DetachedKey{kind, name, sorted});
      if (created) {
        // A detached histogram still needs valid bounds to count into.
        bool boundsUsable =
            std::all_of(bounds.begin(), bounds.end(), [](double b) { return std::isfinite(b); }) &&
            std::is_sorted(bounds.begin(), bounds.end());
        entry->second = make(kind, name, boundsUsable ? bounds : defaultBuckets());
        warning = "metrics: " + std::string(kindName(kind)) + " '" + describe(name, sorted) +
                  "' is not exported: " + problem;
      }
      instrument = entry->second.get();
    }
  }
  // Outside the lock: a logger may well count its own lines in this registry.
  if (!warning.empty()) log_.warn(warning);
  return *instrument;
}

std::string MetricsRegistry::exposition() const {
  // The lock is held only to list the families and series, not to format them:
  // a scrape renders every series (milliseconds on a busy hive) while plugins
  // register instruments on their hot paths (a new label set) and must not wait
  // for it. Formatting outside the lock is safe because nothing is ever removed
  // from families_ or from a family's series while the registry lives, std::map
  // nodes do not move when others are inserted, label sets are map keys
  // (immutable), and an instrument's write() reads atomics only.
  struct Listed {
    const std::string* name;
    std::string help;  // copied: find() may fill in an empty help later
    Kind kind;
    std::vector<std::pair<const LabelSet*, const Instrument*>> series;
  };
  std::vector<Listed> listed;
  {
    std::lock_guard lock(mutex_);
    listed.reserve(families_.size());
    for (const auto& [name, family] : families_) {
      Listed entry{&name, family.help, family.kind, {}};
      entry.series.reserve(family.series.size());
      for (const auto& [labels, instrument] : family.series)
        entry.series.emplace_back(&labels, instrument.get());
      listed.push_back(std::move(entry));
    }
  }
  std::string out;
  for (const auto& family : listed) {
    if (!family.help.empty()) {
      out += "# HELP ";
      out += *family.name;
      out += ' ';
      appendEscapedHelp(out, family.help);
      out += '\n';
    }
    out += "# TYPE ";
    out += *family.name;
    out += ' ';
    out += kindName(family.kind);
    out += '\n';
    for (const auto& [labels, instrument] : family.series) instrument->write(out, *labels);
  }
  return out;
}

}  // namespace hive::host
