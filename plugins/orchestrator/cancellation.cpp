#include "cancellation.hpp"

#include "dispatcher.hpp"
#include "plugin_common/trace_context.hpp"
#include "render.hpp"

namespace hive::orchestrator {
namespace {

// Who held the task, as found under the registry's lock.
struct Holder {
  std::string agentId;
  std::string leaseToken;
  std::shared_ptr<exec::Execution> execution;  // a process agent's running job
  std::shared_ptr<AgentChannel> channel;       // a remote agent, while connected
  std::optional<Agent> released;               // a remote agent's record, the task taken off it
};

}  // namespace

void Cancellation::taskCancelled(const std::string& taskId, const std::string& traceparent) {
  Holder holder = registry_.withLock([&](AgentTable& table) {
    Holder h;
    for (auto& [id, local] : table.byId) {
      auto leased = local.agent.inFlight.find(taskId);
      if (leased == local.agent.inFlight.end()) continue;
      h.agentId = id;
      h.leaseToken = leased->second;
      if (local.agent.runtime == Runtime::kProcess) {
        // Its slot is freed when the job reports kCancelled.
        if (auto running = local.executions.find(taskId); running != local.executions.end())
          h.execution = running->second;
      } else {
        local.agent.inFlight.erase(leased);
        local.unacknowledged.erase(taskId);
        registry_.refreshStatus(local.agent);
        h.channel = local.channel;
        h.released = local.agent;
      }
      break;
    }
    return h;
  });
  if (holder.agentId.empty()) return;  // handed out by another node, or already over
  if (holder.execution) {
    holder.execution->cancel();
    env_.log().info("task " + taskId + " cancelled: its job on process agent " + holder.agentId +
                    " is killed" + plugin_common::traceLogField(traceparent));
    return;
  }
  if (!holder.released) return;  // a process job that has not started yet: it is stopped as it starts
  // Not connected right now: the agent learns it when it reports (refused as stale).
  if (holder.channel)
    holder.channel->sendOrClose(protocol::cancel(taskId, holder.leaseToken, env_.now()), env_.log());
  env_.log().info("task " + taskId + " cancelled: task.cancel sent to agent " + holder.agentId +
                  plugin_common::traceLogField(traceparent));
  records_.persist(*holder.released);
  dispatcher_.request();  // its slot is free
}

}  // namespace hive::orchestrator
