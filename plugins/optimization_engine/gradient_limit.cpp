#include "gradient_limit.hpp"

#include <algorithm>
#include <cmath>

namespace hive::optimization_engine {

namespace {
// Before the first limit() call the ceiling is unknown: decisions then work
// from this, and limit() clamps to the real one.
constexpr double kUnknownCeiling = 1000;
}  // namespace

bool GradientLimit::record(double runMs, Attempt attempt, std::int64_t nowMs) {
  if (samples_.empty()) openedAtMs_ = nowMs;
  samples_.push_back(std::max(0.0, runMs));
  if (attempt == Attempt::kFailed) ++failures_;
  if (samples_.size() < options_.windowSamples && nowMs - openedAtMs_ < options_.window.count()) return false;
  closeWindow();
  return true;
}

void GradientLimit::closeWindow() {
  std::size_t middle = samples_.size() / 2;
  std::nth_element(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(middle), samples_.end());
  double window = samples_[middle];
  double failed = static_cast<double>(failures_) / static_cast<double>(samples_.size());
  samples_.clear();
  failures_ = 0;
  ++windows_;
  lastWindowMs_ = window;
  double ceiling = ceiling_ != 0 ? ceiling_ : kUnknownCeiling;
  double current = limit_;
  if (baselineMs_ <= 0) {  // the baseline window: the limit opens
    baselineMs_ = window;
    current = ceiling;
  }
  double next = current;
  double allowed = options_.tolerance * baselineMs_;
  if (options_.failureShare > 0 && failed >= options_.failureShare)
    next = current * 0.5;
  else if (window <= allowed)
    next = current + 1;
  else
    next = current * std::clamp(allowed / window, 0.5, 1.0);
  limit_ = std::clamp(next, static_cast<double>(options_.minLimit), ceiling);

  if (window < baselineMs_)
    baselineMs_ = window;
  else
    baselineMs_ += (window - baselineMs_) * options_.baselineDrift;
}

std::uint32_t GradientLimit::limit(std::uint32_t ceiling) {
  ceiling_ = std::max<std::uint32_t>(ceiling, 1);
  return current();
}

std::uint32_t GradientLimit::current() const {
  if (ceiling_ == 0) return 0;
  if (limit_ < 0) return std::min(options_.minLimit, ceiling_);
  return std::clamp(static_cast<std::uint32_t>(std::floor(limit_)), std::min(options_.minLimit, ceiling_),
                    ceiling_);
}

}  // namespace hive::optimization_engine
