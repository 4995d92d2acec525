// Who may receive messages, kept in hive.store/1 so that every node sharing
// the store agrees: the agents that connected while communication_manager ran
// (with their role, for role broadcasts), the topics each subscribed to, and
// the dead letters an operator discarded.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "hive/services/agent_frames.hpp"
#include "hive/services/store.hpp"

namespace hive::communication_manager {

class Directory {
 public:
  explicit Directory(ServiceHandle<store::Store> store) : store_(std::move(store)) {}

  Status open();
  // The agent's role as it said in its hello, and its tenant (its
  // "tenant:<name>" capability; none: the default tenant); written when changed.
  Status record(const agents::AgentPresence& presence);
  // The tenant of an agent that connected once ("" the default one); nullopt
  // for an agent never seen.
  Result<std::optional<std::string>> tenantOf(const std::string& agentId);
  // At most `limit` agents (store id order) of `tenant` (nullopt: every tenant's).
  using Tenant = std::optional<std::string>;
  Result<std::vector<std::string>> ofRole(const std::string& role, const Tenant& tenant, std::size_t limit);
  Result<std::vector<std::string>> subscribers(const std::string& topic, const Tenant& tenant,
                                               std::size_t limit);
  Result<std::vector<std::string>> agents(const Tenant& tenant, std::size_t limit);
  // kResourceExhausted beyond `max` topics for the agent.
  Status subscribe(const std::string& agentId, const std::string& topic, std::size_t max);
  Status unsubscribe(const std::string& agentId, const std::string& topic);
  // Dead letters discarded (DELETE /api/v2/messages/dlq/{id}).
  Status discard(const std::string& deadLetterKey);
  Result<bool> discarded(const std::string& deadLetterKey);

 private:
  // Ids whose `field` is `value` (none: every one), of `tenant`; with
  // `agentPart`, the agent id before the '~' of each.
  Result<std::vector<std::string>> listIds(const std::string& collection, const std::string& field,
                                           const std::string& value, const Tenant& tenant, std::size_t limit,
                                           bool agentPart);

  ServiceHandle<store::Store> store_;
  std::mutex mutex_;
  std::set<std::string> recorded_;            // agent id + role written by this process
  std::map<std::string, std::string> known_;  // agent id → tenant: a record is never removed
};

}  // namespace hive::communication_manager
