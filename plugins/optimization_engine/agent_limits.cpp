#include "agent_limits.hpp"

namespace hive::optimization_engine {

AgentLimits::AgentLimits(const GradientOptions& options, Metrics& metrics, std::size_t maxAgents)
    : options_(options),
      maxAgents_(maxAgents),
      increases_(metrics.counter("hive_concurrency_limit_changes_total",
                                 "Adaptive concurrency limits of agents raised or lowered",
                                 {{"direction", "up"}})),
      decreases_(metrics.counter("hive_concurrency_limit_changes_total",
                                 "Adaptive concurrency limits of agents raised or lowered",
                                 {{"direction", "down"}})),
      limited_(metrics.gauge("hive_concurrency_limited_agents",
                             "Agents whose adaptive concurrency limit is below their max_concurrency")) {}

std::uint32_t AgentLimits::limit(const std::string& agentId, std::uint32_t ceiling) {
  std::lock_guard lock(mutex_);
  auto found = agents_.find(agentId);
  if (found == agents_.end()) {
    if (agents_.size() >= maxAgents_) return ceiling;
    found = agents_.emplace(agentId, GradientLimit(options_)).first;
  }
  return found->second.limit(ceiling);
}

void AgentLimits::record(const std::string& agentId, double runMs, Attempt attempt, std::int64_t nowMs) {
  std::lock_guard lock(mutex_);
  auto found = agents_.find(agentId);
  if (found == agents_.end()) {
    if (agents_.size() >= maxAgents_) return;
    found = agents_.emplace(agentId, GradientLimit(options_)).first;
  }
  GradientLimit& agent = found->second;
  std::uint32_t before = agent.current();
  if (!agent.record(runMs, attempt, nowMs)) return;
  std::uint32_t after = agent.current();
  if (after > before) increases_.increment();
  if (after < before) decreases_.increment();
  double limited = 0;
  for (auto& [id, each] : agents_)
    if (each.current() < each.ceiling()) limited += 1;
  limited_.set(limited);
}

std::vector<AgentLimitView> AgentLimits::snapshot() {
  std::lock_guard lock(mutex_);
  std::vector<AgentLimitView> out;
  for (auto& [id, agent] : agents_) {
    out.push_back(
        {id, agent.current(), agent.ceiling(), agent.baselineMs(), agent.lastWindowMs(), agent.windows()});
  }
  return out;
}

}  // namespace hive::optimization_engine
