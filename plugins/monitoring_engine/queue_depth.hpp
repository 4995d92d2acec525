// hive_tasks_queued{capabilities}: tasks waiting, by the capability set they
// require, sampled from hive.tasks/1 depth() every health_period (task_manager
// records no such series itself).
//
// Capability sets come from whoever submits tasks, so the label is bounded:
// the first `maxSeries` sets seen get a series of their own, every later one
// is counted under capabilities="(other)". A set with nothing waiting keeps
// its series at 0 (the registry never drops a series).
#pragma once

#include <cstddef>
#include <set>
#include <string>

#include "hive/context.hpp"

namespace hive::monitoring_engine {

class QueueDepthSampler {
 public:
  QueueDepthSampler(PluginContext& context, std::size_t maxSeries)
      : context_(context), maxSeries_(maxSeries) {}

  // Blocking (a store query): run it on the blocking pool. Without a
  // hive.tasks/1 provider, or when it fails, the series keep their values.
  void sample();

 private:
  PluginContext& context_;
  const std::size_t maxSeries_;
  std::set<std::string> known_;  // sample() calls never overlap
};

}  // namespace hive::monitoring_engine
