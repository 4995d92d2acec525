// hive_tasks_queued{capabilities}: tasks waiting, by the capability set they
// require, sampled from hive.tasks/1 depth() every health_period (task_manager
// records no such series itself). The label is bounded by CapabilityLabels;
// a set with nothing waiting keeps its series at 0.
#pragma once

#include <memory>

#include "capability_labels.hpp"
#include "hive/context.hpp"

namespace hive::monitoring_engine {

class QueueDepthSampler {
 public:
  QueueDepthSampler(PluginContext& context, std::shared_ptr<CapabilityLabels> labels)
      : context_(context), labels_(std::move(labels)) {}

  // Blocking (a store query): run it on the blocking pool. Without a
  // hive.tasks/1 provider, or when it fails, the series keep their values.
  void sample();

 private:
  PluginContext& context_;
  const std::shared_ptr<CapabilityLabels> labels_;
};

}  // namespace hive::monitoring_engine
