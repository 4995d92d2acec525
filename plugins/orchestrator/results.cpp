#include "results.hpp"

#include <optional>

#include "dispatcher.hpp"
#include "health.hpp"

namespace hive::orchestrator {

Status Results::reportOne(const std::string& agentId, Report report) {
  return this->report(agentId, {std::move(report)}).front();
}

std::vector<Status> Results::report(const std::string& agentId, const std::vector<Report>& reports) {
  auto tasks = env_.tasks.lease();
  if (!tasks) return std::vector<Status>(reports.size(), unavailable("tasks are unavailable"));
  std::vector<Status> reported = tasks->finish(reports);
  std::optional<Agent> stateChanged = registry_.withLock([&](AgentTable& table) -> std::optional<Agent> {
    auto found = table.byId.find(agentId);
    if (found == table.byId.end()) return std::nullopt;
    if (account(found->second, reports, reported) == Change::kState) return found->second.agent;
    table.unsaved.insert(agentId);
    return std::nullopt;
  });
  if (stateChanged) records_.persist(*stateChanged);
  dispatcher_.request();
  return reported;
}

Results::Change Results::account(LocalAgent& local, const std::vector<Report>& reports,
                                 const std::vector<Status>& statuses) {
  Agent& a = local.agent;
  Circuit circuit = a.circuit;
  AgentStatus status = a.status;
  std::int64_t now = env_.now();
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const auto& r = reports[i];
    auto inFlight = a.inFlight.find(r.taskId);
    bool mine = inFlight != a.inFlight.end() && inFlight->second == r.leaseToken;
    if (mine) {
      a.inFlight.erase(inFlight);
      local.unacknowledged.erase(r.taskId);
    }
    if (!statuses[i].ok() && !mine) continue;
    if (r.outcome == Outcome::kSucceeded) {
      breaker::succeeded(a);
    } else if (breaker::failed(a, env_.options.failureThreshold, now) == breaker::Change::kOpened) {
      env_.log().warn("agent " + a.id + ": circuit breaker opens after " +
                      std::to_string(a.consecutiveFailures) + " consecutive failures");
    }
  }
  registry_.refreshStatus(a);
  return a.circuit != circuit || a.status != status ? Change::kState : Change::kCountersOnly;
}

}  // namespace hive::orchestrator
