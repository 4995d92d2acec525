// The `capabilities` label of the task series (hive_tasks_queued,
// hive_tasks_queue_age_seconds). Capability sets come from whoever submits
// tasks, so the label is bounded: the first `maxSets` sets seen get a value of
// their own, every later one is "(other)". One instance is shared by the
// queue depth sampler (blocking pool) and the task event recorder (bus thread)
// so that both series use the same sets.
#pragma once

#include <cstddef>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace hive::monitoring_engine {

class CapabilityLabels {
 public:
  explicit CapabilityLabels(std::size_t maxSets) : maxSets_(maxSets) {}

  // `set` is the required set, comma-separated ("" for none). Thread-safe.
  std::string label(const std::string& set);
  // Every label handed out so far (never shrinks: the registry keeps a series
  // once it exists, and a set with nothing in it must read 0, not its last value).
  std::vector<std::string> known() const;
  // 0: the task series by capability set are not recorded at all.
  std::size_t maxSets() const { return maxSets_; }

 private:
  const std::size_t maxSets_;
  mutable std::mutex mutex_;
  std::set<std::string> sets_;  // own labels, at most maxSets_
  bool otherUsed_ = false;
};

}  // namespace hive::monitoring_engine
