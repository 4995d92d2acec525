// What a cancelled task means for the agent working on it (CancelWatch hears
// the cancellation). If this node handed the task out: a remote agent gets
// task.cancel and the task leaves its in-flight set; a process agent's job is
// cancelled, which kills its whole process tree. The task stays cancelled:
// what the agent or the job reports afterwards is refused as stale, and
// nothing is retried.
#pragma once

#include <string>

#include "agent_records.hpp"
#include "agent_registry.hpp"
#include "environment.hpp"

namespace hive::orchestrator {

class Dispatcher;

class Cancellation {
 public:
  Cancellation(Environment& environment, AgentRegistry& registry, AgentRecords& records,
               Dispatcher& dispatcher)
      : env_(environment), registry_(registry), records_(records), dispatcher_(dispatcher) {}

  // `traceparent`: the task's, for the log lines ("" when unknown).
  void taskCancelled(const std::string& taskId, const std::string& traceparent);

 private:
  Environment& env_;
  AgentRegistry& registry_;
  AgentRecords& records_;
  Dispatcher& dispatcher_;
};

}  // namespace hive::orchestrator
