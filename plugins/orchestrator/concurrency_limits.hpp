// The dispatcher's use of hive.concurrency/1 (optimization_engine), kept out
// of dispatcher.cpp: an agent is offered at most its adaptive limit minus what
// it holds, never more than its breaker and max_concurrency allow already.
// Without a provider nothing changes.
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
    return c.free == 0;
  });
}

}  // namespace hive::orchestrator
