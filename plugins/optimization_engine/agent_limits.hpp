// hive.concurrency/1: one GradientLimit per agent, fed with the run time of
// each attempt (AttemptEvents), asked by the dispatcher every round. At most
// `maxAgents` agents are followed; others keep their max_concurrency.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "gradient_limit.hpp"
#include "hive/metrics.hpp"
#include "hive/services/concurrency.hpp"

namespace hive::optimization_engine {

struct AgentLimitView {
  std::string agentId;
  std::uint32_t limit = 0;
  std::uint32_t ceiling = 0;
  double baselineMs = 0;
  double lastWindowMs = 0;
  std::uint64_t windows = 0;
};

class AgentLimits final : public concurrency::Limiter {
 public:
  AgentLimits(const GradientOptions& options, Metrics& metrics, std::size_t maxAgents);

  // hive::concurrency::Limiter
  std::uint32_t limit(const std::string& agentId, std::uint32_t ceiling) override;

  void record(const std::string& agentId, double runMs, Attempt attempt, std::int64_t nowMs);
  std::vector<AgentLimitView> snapshot();

 private:
  const GradientOptions options_;
  const std::size_t maxAgents_;
  Counter& increases_;
  Counter& decreases_;
  Gauge& limited_;
  std::mutex mutex_;
  std::map<std::string, GradientLimit> agents_;
};

}  // namespace hive::optimization_engine
