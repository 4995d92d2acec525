#include "results.hpp"

#include <algorithm>
#include <iterator>
#include <map>
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
  bool stateChanged = registry_.withLock([&](AgentTable& table) {
    auto found = table.byId.find(agentId);
    if (found == table.byId.end()) return false;
    table.unsaved.insert(agentId);  // the counters, at the next sweep
    return account(found->second, reports, reported) == Change::kState;
  });
  dispatcher_.request();
  // A new status or breaker state is written now, but not on the agent's path.
  if (stateChanged) records_.persistSoon(agentId);
  return reported;
}

Results::Change Results::account(LocalAgent& local, const std::vector<Report>& reports,
                                 const std::vector<Status>& statuses) {
  Agent& a = local.agent;
  Circuit circuit = a.circuit;
  AgentStatus status = a.status;
  std::int64_t now = env_.now();
  for (std::size_t i = 0; i < reports.size(); ++i) {
    if (transient(statuses[i])) continue;  // held: the task keeps its slot until it settles
    const auto& r = reports[i];
    auto inFlight = a.inFlight.find(r.taskId);
    bool mine = inFlight != a.inFlight.end() && inFlight->second == r.leaseToken;
    if (mine) {
      a.inFlight.erase(inFlight);
      local.unacknowledged.erase(r.taskId);
      ++local.attemptsEnded;
      if (auto assigned = local.assignedAtMs.find(r.taskId); assigned != local.assignedAtMs.end()) {
        if (r.outcome == Outcome::kSucceeded && statuses[i].ok()) {
          const double took = static_cast<double>(std::max<std::int64_t>(now - assigned->second, 0));
          local.latencyMs = local.latencyMs == 0 ? std::max(took, 0.001) : 0.8 * local.latencyMs + 0.2 * took;
        }
        local.assignedAtMs.erase(assigned);
      }
    }
    if (!statuses[i].ok() && !mine) continue;
    if (r.outcome == Outcome::kSucceeded) {
      breaker::succeeded(a);
    } else if (breaker::failed(a, env_.options.failureThreshold, now) == breaker::Change::kOpened) {
      env_.log().warn("agent " + a.id + ": circuit breaker opens after " +
                      std::to_string(a.consecutiveFailures) + " consecutive failures");
    }
  }
  // Tasks that left it another way (cancelled, released, timed out).
  std::erase_if(local.assignedAtMs, [&](const auto& entry) { return a.inFlight.count(entry.first) == 0; });
  registry_.refreshStatus(a);
  return a.circuit != circuit || a.status != status ? Change::kState : Change::kCountersOnly;
}

void Results::hold(const std::string& agentId, Report report, Settled settled) {
  std::unique_lock lock(heldMutex_);
  if (held_.size() >= kMaxHeld) {
    lock.unlock();
    if (settled)
      settled(unavailable("the store is unavailable and " + std::to_string(kMaxHeld) +
                          " results already wait for it"));
    return;
  }
  if (held_.empty())
    env_.log().warn("the store is unavailable: results are held and reported again at each sweep (task " +
                    report.taskId + " first)");
  held_.push_back({agentId, std::move(report), std::move(settled)});
}

std::size_t Results::heldCount() {
  std::lock_guard lock(heldMutex_);
  return held_.size();
}

void Results::retryHeld() {
  std::vector<Held> batch;
  {
    std::lock_guard lock(heldMutex_);
    batch.swap(held_);
  }
  if (batch.empty()) return;
  std::map<std::string, std::vector<std::size_t>> byAgent;
  for (std::size_t i = 0; i < batch.size(); ++i) byAgent[batch[i].agentId].push_back(i);
  std::vector<Held> still;
  for (const auto& [agentId, indexes] : byAgent) {
    std::vector<Report> reports;
    for (std::size_t i : indexes) reports.push_back(batch[i].report);
    std::vector<Status> statuses = report(agentId, reports);
    for (std::size_t k = 0; k < indexes.size(); ++k) {
      Held& held = batch[indexes[k]];
      if (transient(statuses[k]))
        still.push_back(std::move(held));
      else if (held.settled)
        held.settled(statuses[k]);
    }
  }
  if (still.size() < batch.size())
    env_.log().info(std::to_string(batch.size() - still.size()) + " held results reported");
  if (still.empty()) return;
  std::lock_guard lock(heldMutex_);
  // Ahead of any held since: an agent's reports stay in order.
  held_.insert(held_.begin(), std::make_move_iterator(still.begin()), std::make_move_iterator(still.end()));
}

}  // namespace hive::orchestrator
