#include "capability_labels.hpp"

namespace hive::monitoring_engine {

namespace {
constexpr const char* kOther = "(other)";
}

std::string CapabilityLabels::label(const std::string& set) {
  std::string label = set.empty() ? "(none)" : set;
  std::lock_guard lock(mutex_);
  if (sets_.count(label) != 0) return label;
  if (sets_.size() < maxSets_) {
    sets_.insert(label);
    return label;
  }
  otherUsed_ = true;
  return kOther;
}

std::vector<std::string> CapabilityLabels::known() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out(sets_.begin(), sets_.end());
  if (otherUsed_) out.push_back(kOther);
  return out;
}

}  // namespace hive::monitoring_engine
