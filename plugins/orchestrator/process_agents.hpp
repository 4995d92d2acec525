// Process agents: the local, sandboxed ones that hive.executor/1 (task_execution_engine)
// declares and runs. Each is an agent of this node ("process-<name>.<node>");
// a task handed to it becomes a job, whose outcome is reported like a remote
// agent's result. A job cannot move to another generation or node: when this
// generation stops, its jobs are cancelled (their whole process trees are
// killed) and the tasks are retried when their leases end.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agent_records.hpp"
#include "agent_registry.hpp"
#include "cancel_watch.hpp"
#include "environment.hpp"
#include "hive/services/executor.hpp"
#include "results.hpp"

namespace hive::orchestrator {

class Dispatcher;

class ProcessAgents {
 public:
  ProcessAgents(Environment& environment, AgentRegistry& registry, AgentRecords& records, Results& results,
                Dispatcher& dispatcher, const CancelWatch& cancellations)
      : env_(environment),
        registry_(registry),
        records_(records),
        results_(results),
        dispatcher_(dispatcher),
        cancellations_(cancellations) {}

  // Registers the process agents hive.executor/1 declares, once it runs (the
  // sweep asks again until it does).
  void load();
  // Starts the job for an assignment given to process agent `agentId`.
  void run(const std::string& agentId, const std::string& name, const tasks::Assignment& assignment);
  // The jobs running now, to cancel when the generation stops.
  std::vector<std::shared_ptr<exec::Execution>> running();
  // Copies the figures of the running jobs (hive.job_usage/1, when a
  // provider runs) onto their tasks' progress, at most every usage_period.
  void publishUsage(std::int64_t nowMs);

 private:
  void done(const std::string& agentId, const std::string& taskId, const std::string& leaseToken,
            exec::Outcome outcome);
  // The task's progress becomes {"resources": <its job's figures>}, when known.
  void recordUsage(const std::string& taskId, const std::string& leaseToken);

  Environment& env_;
  AgentRegistry& registry_;
  AgentRecords& records_;
  Results& results_;
  Dispatcher& dispatcher_;
  const CancelWatch& cancellations_;
  bool loaded_ = false;         // sweep and open only, one at a time
  std::int64_t usageAtMs_ = 0;  // the last publishUsage that copied (sweep only)
};

}  // namespace hive::orchestrator
