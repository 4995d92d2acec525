// Agent records in hive.store/1 (collection "agents", indexed by status and
// name), shared by every node: written when an agent's state changes, counted
// against max_registered_agents, and purged a page per sweep once they have
// not been connected for agent_retention.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent_model.hpp"
#include "agent_registry.hpp"
#include "environment.hpp"
#include "serial_queue.hpp"

namespace hive::orchestrator {

class AgentRecords {
 public:
  AgentRecords(Environment& environment, AgentRegistry& registry)
      : env_(environment),
        registry_(registry),
        writes_(std::make_shared<SerialQueue>(environment.background.executor())) {}

  // Declares the collection and counts the registry.
  Status open();

  // Writes the record as it is (a failure is logged: the next change writes again).
  void persist(const Agent& agent);
  // Writes the records in one store transaction (one commit for all), or one
  // by one when that fails.
  void persistAll(const std::vector<Agent>& agents);
  // Writes the records whose counters changed since the last time.
  void persistUnsaved();
  // Writes the agent's record soon, off the caller's path (an agent's result
  // is acknowledged, and its next task claimed, without waiting for it): in
  // order, each write of the state the registry holds when it runs.
  void persistSoon(const std::string& agentId);
  // A new record; kAlreadyExists when the id is taken.
  Status create(const Agent& agent);
  Status remove(const std::string& id);
  // The stored record; nullopt when there is none.
  Result<std::optional<Agent>> load(const std::string& id);
  // One page in id order, as stored (`status` filters when not empty).
  Result<AgentPage> page(const std::string& status, std::size_t limit, const std::string& cursor);

  // A place in the registry for a new agent: kResourceExhausted when it is full.
  Status reserve();
  // A reserved place given back, or a record deleted.
  void unregistered();

  // Deletes old records of remote agents not served here, one page per call,
  // resuming where the last call stopped. Sweep only (not thread-safe).
  void purge(std::int64_t now);

 private:
  Result<std::size_t> count();

  Environment& env_;
  AgentRegistry& registry_;
  // Agent records in the store as this node last counted them, plus its own
  // registrations and purges since (other nodes' are seen at the next count).
  std::atomic<std::size_t> registered_{0};
  std::atomic<std::int64_t> lastCountMs_{0};
  std::string purgeCursor_;              // where the next purge pass resumes
  std::shared_ptr<SerialQueue> writes_;  // persistSoon()'s writes, in order
};

}  // namespace hive::orchestrator
