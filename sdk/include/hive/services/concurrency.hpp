// hive.concurrency/1 — how many tasks an agent may hold at once now, learnt
// from how it has been answering (adaptive concurrency). Provided by
// optimization_engine; asked by the orchestrator's dispatcher for each agent
// with room, every dispatch round. Without a provider, an agent may hold its
// configured max_concurrency.
#pragma once

#include <cstdint>
#include <string>

#include "hive/services.hpp"

namespace hive::concurrency {

class Limiter : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.concurrency", 1};

  // How many tasks agent `agentId` may hold now: between 1 and `ceiling` (its
  // configured max_concurrency), `ceiling` for an agent the provider knows
  // nothing about. Called on the dispatcher's thread for every candidate of
  // every round: answer from memory, never block. Thread-safe.
  virtual std::uint32_t limit(const std::string& agentId, std::uint32_t ceiling) = 0;
};

}  // namespace hive::concurrency
