// Who may receive messages, kept in hive.store/1 so that every node sharing
// the store agrees: the agents that connected while communication_manager ran
// (with their role, for role broadcasts), the topics each subscribed to, and
// the dead letters an operator discarded.
#pragma once

#include <mutex>
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
  // The agent's role as it said in its hello; written when it changed.
  Status record(const agents::AgentPresence& presence);
  Result<bool> known(const std::string& agentId);
  // At most `limit` agents (store id order).
  Result<std::vector<std::string>> ofRole(const std::string& role, std::size_t limit);
  Result<std::vector<std::string>> subscribers(const std::string& topic, std::size_t limit);
  Result<std::vector<std::string>> agents(std::size_t limit);
  // kResourceExhausted beyond `max` topics for the agent.
  Status subscribe(const std::string& agentId, const std::string& topic, std::size_t max);
  Status unsubscribe(const std::string& agentId, const std::string& topic);
  // Dead letters discarded (DELETE /api/v2/messages/dlq/{id}).
  Status discard(const std::string& deadLetterKey);
  Result<bool> discarded(const std::string& deadLetterKey);

 private:
  Result<std::vector<std::string>> listIds(const std::string& collection, const std::string& field,
                                           const std::string& value, std::size_t limit, bool suffix);

  ServiceHandle<store::Store> store_;
  std::mutex mutex_;
  std::set<std::string> recorded_;  // agent id + role written by this process
  std::set<std::string> known_;     // agent ids found: a record is never removed, so no lookup again
};

}  // namespace hive::communication_manager
