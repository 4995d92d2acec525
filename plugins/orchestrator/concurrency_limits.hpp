// The dispatcher's use of hive.concurrency/1 (optimization_engine), kept out
// of dispatcher.cpp: an agent is offered at most its adaptive limit minus what
// it holds, never more than its breaker and max_concurrency allow already, and
// its load (what it holds over what it may hold, least loaded first) is taken
// against that limit: an agent whose recent times cut its limit comes after
// one that keeps up, instead of before it for holding fewer tasks. Without a
// provider nothing changes.
#pragma once

#include <algorithm>
#include <vector>

#include "hive/services.hpp"
#include "hive/services/concurrency.hpp"

namespace hive::orchestrator {

template <typename Candidate>
void applyConcurrencyLimits(ServiceRegistry& services, std::vector<Candidate>& candidates) {
  if (candidates.empty()) return;
  auto limiter = services.get<concurrency::Limiter>();
  if (!limiter.ok()) return;
  std::erase_if(candidates, [&](Candidate& c) {
    std::size_t limit = (*limiter)->limit(c.id, c.ceiling);
    c.free = limit > c.held ? std::min(c.free, limit - c.held) : 0;
    if (limit > 0) c.load = static_cast<double>(c.held) / static_cast<double>(limit);
    return c.free == 0;
  });
}

}  // namespace hive::orchestrator
