#include "process_agents.hpp"

#include <algorithm>

#include "dispatcher.hpp"
#include "hive/services/job_usage.hpp"

namespace hive::orchestrator {

void ProcessAgents::load() {
  if (loaded_) return;
  auto runner = env_.context.services().get<exec::ProcessRunner>();
  if (!runner.ok()) return;
  loaded_ = true;
  for (const auto& spec : (*runner)->agents()) {
    Agent agent;
    // One id per node: each hive process runs its own process agents.
    agent.id = "process-" + spec.name + "." + env_.options.node;
    agent.name = spec.name;
    agent.role = "process";
    agent.capabilities = spec.capabilities;
    std::sort(agent.capabilities.begin(), agent.capabilities.end());
    agent.runtime = Runtime::kProcess;
    if (auto tenant = env_.options.processAgentTenants.find(spec.name);
        tenant != env_.options.processAgentTenants.end())
      agent.tenant = tenant->second;
    agent.maxConcurrency = std::max<std::uint32_t>(1, spec.maxConcurrency);
    agent.node = env_.options.node;
    agent.createdAtMs = agent.lastHeartbeatMs = env_.now();
    registry_.refreshStatus(agent);
    registry_.withLock([&](AgentTable& table) { table.byId[agent.id].agent = agent; });
    records_.persist(agent);
    env_.log().info("process agent " + agent.name + " (" + (*runner)->sandbox() + " sandbox)");
  }
  dispatcher_.request();
}

void ProcessAgents::run(const std::string& agentId, const std::string& name, const tasks::Assignment& a) {
  auto runner = env_.context.services().get<exec::ProcessRunner>();
  if (!runner.ok())
    return dispatcher_.undo(agentId, a, "no hive.executor/1 provider for process agent " + name);
  std::string taskId = a.taskId, token = a.leaseToken;
  auto execution = (*runner)->run(
      exec::Job{name, a.taskId, a.taskJson, a.timeout},
      [this, owner = env_.background.owner(), agentId, taskId, token](exec::Outcome outcome) {
        auto alive = owner.lock();
        if (!alive) return;
        env_.background.post([this, agentId, taskId, token, outcome = std::move(outcome)]() mutable {
          done(agentId, taskId, token, std::move(outcome));
        });
      });
  if (!execution.ok()) {
    (void)results_.reportOne(agentId, {a.taskId,
                                       a.leaseToken,
                                       Results::Outcome::kFailed,
                                       {},
                                       "could not start: " + execution.status().message(),
                                       tasks::Retry::kAllowed});
    return;
  }
  registry_.withLock([&](AgentTable& table) {
    if (auto found = table.byId.find(agentId); found != table.byId.end())
      found->second.executions[a.taskId] = *execution;
  });
  // A cancellation heard while the job was starting found no execution to stop.
  if (cancellations_.recentlyCancelled(a.taskId)) return (*execution)->cancel();
  if (auto tasks = env_.tasks.lease()) (void)tasks->started(a.taskId, a.leaseToken);
}

void ProcessAgents::publishUsage(std::int64_t nowMs) {
  if (nowMs - usageAtMs_ < env_.options.usagePeriod.count()) return;
  usageAtMs_ = nowMs;
  if (!env_.context.services().get<jobs::UsageReader>().ok()) return;
  // task id → lease token of the jobs running now.
  auto jobs = registry_.withLock([](AgentTable& table) {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& [id, local] : table.byId)
      for (auto& [task, execution] : local.executions)
        if (auto leased = local.agent.inFlight.find(task); leased != local.agent.inFlight.end())
          out.emplace_back(task, leased->second);
    return out;
  });
  for (const auto& [task, lease] : jobs) recordUsage(task, lease);
}

void ProcessAgents::recordUsage(const std::string& taskId, const std::string& leaseToken) {
  auto usage = env_.context.services().get<jobs::UsageReader>();
  if (!usage.ok()) return;
  std::string figures = (*usage)->usage(taskId);
  if (figures.empty()) return;
  auto tasks = env_.tasks.lease();
  if (!tasks) return;
  // Refused when the lease moved on (the task was cancelled, or timed out):
  // the figures are still at GET /api/v2/resources/tasks/{id}.
  (void)tasks->progress(taskId, leaseToken, "{\"resources\":" + figures + "}");
}

std::vector<std::shared_ptr<exec::Execution>> ProcessAgents::running() {
  return registry_.withLock([](AgentTable& table) {
    std::vector<std::shared_ptr<exec::Execution>> out;
    for (auto& [id, local] : table.byId)
      for (auto& [task, execution] : local.executions) out.push_back(execution);
    return out;
  });
}

void ProcessAgents::done(const std::string& agentId, const std::string& taskId, const std::string& leaseToken,
                         exec::Outcome outcome) {
  bool cancelled = outcome.kind == exec::OutcomeKind::kCancelled;
  registry_.withLock([&](AgentTable& table) {
    auto found = table.byId.find(agentId);
    if (found == table.byId.end()) return;
    found->second.executions.erase(taskId);
    // Cancelled by us (the task was cancelled, or this generation stops): the
    // lease decides what happens next.
    if (!cancelled) return;
    found->second.agent.inFlight.erase(taskId);
    registry_.refreshStatus(found->second.agent);
  });
  if (cancelled) return dispatcher_.request();  // its slot is free
  recordUsage(taskId, leaseToken);
  bool ok = outcome.kind == exec::OutcomeKind::kSucceeded;
  using Outcome = Results::Outcome;
  Results::Report report{taskId,
                         leaseToken,
                         ok ? Outcome::kSucceeded : Outcome::kFailed,
                         outcome.result.empty() ? "{}" : outcome.result,
                         ok ? std::string() : (outcome.reason.empty() ? "process failed" : outcome.reason),
                         tasks::Retry::kAllowed};
  // A result Hive cannot keep exactly (a number beyond a double, say) is
  // refused; the process will not answer again, so the attempt fails saying why.
  auto settled = [this, agentId, taskId, leaseToken, ok](const Status& reported) {
    if (ok && reported.code() == StatusCode::kInvalidArgument)
      (void)results_.reportOne(agentId, {taskId,
                                         leaseToken,
                                         Outcome::kFailed,
                                         {},
                                         "result refused: " + reported.message(),
                                         tasks::Retry::kNever});
  };
  Status reported = results_.reportOne(agentId, report);
  // The store is down: the process's work is kept and reported when it is back.
  if (Results::transient(reported)) return results_.hold(agentId, std::move(report), std::move(settled));
  settled(reported);
}

}  // namespace hive::orchestrator
