// The signals admission control reads (admission_gate.hpp), taken from where
// they live: the host from /proc, the waiting tasks from hive.tasks/1 (a store
// query: call it off the request path), the queue age from the
// hive_tasks_queue_age_seconds series monitoring_engine keeps in the kernel's
// metrics registry. Only the signals `limits` checks are read.
#pragma once

#include "admission_gate.hpp"
#include "hive/context.hpp"

namespace hive::resource_manager {

LoadSignals readLoadSignals(PluginContext& context, const AdmissionLimits& limits);

}  // namespace hive::resource_manager
