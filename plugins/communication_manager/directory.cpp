#include "directory.hpp"

#include <boost/json.hpp>

namespace hive::communication_manager {
namespace json = boost::json;
namespace {

constexpr const char* kAgents = "message_agents";
constexpr const char* kSubscriptions = "message_subscriptions";
constexpr const char* kDiscarded = "message_discarded";

std::string subscriptionId(const std::string& agentId, const std::string& topic) {
  return agentId + "~" + topic;
}

}  // namespace

Status Directory::open() {
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  HIVE_TRY(store->declareCollection({kAgents, {"role"}}));
  HIVE_TRY(store->declareCollection({kSubscriptions, {"topic", "agent"}}));
  HIVE_TRY(store->declareCollection({kDiscarded, {}}));
  return okStatus();
}

Status Directory::record(const agents::AgentPresence& presence) {
  std::string key = presence.agentId + "\n" + presence.role;
  {
    std::lock_guard lock(mutex_);
    if (recorded_.count(key) != 0) return okStatus();
  }
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  store::Document document;
  document.id = presence.agentId;
  document.body = json::serialize(json::object{{"name", presence.name}, {"role", presence.role}});
  document.index["role"] = presence.role;
  HIVE_TRY(store->put(kAgents, std::move(document)).status());
  std::lock_guard lock(mutex_);
  recorded_.insert(key);
  known_.insert(presence.agentId);
  return okStatus();
}

Result<bool> Directory::known(const std::string& agentId) {
  {
    std::lock_guard lock(mutex_);
    if (known_.count(agentId) != 0) return true;
  }
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  auto found = store->get(kAgents, agentId);
  if (found.ok()) {
    std::lock_guard lock(mutex_);
    known_.insert(agentId);
    return true;
  }
  if (found.status().code() == StatusCode::kNotFound) return false;
  return found.status();
}

Result<std::vector<std::string>> Directory::listIds(const std::string& collection, const std::string& field,
                                                    const std::string& value, std::size_t limit,
                                                    bool agentPart) {
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  std::vector<std::string> ids;
  store::ListQuery query;
  query.collection = collection;
  if (!field.empty()) query.equals[field] = value;
  do {
    query.limit = std::min<std::size_t>(1000, limit - ids.size());
    auto page = HIVE_TRY(store->list(query));
    for (auto& document : page.items)
      ids.push_back(agentPart ? document.id.substr(0, document.id.find('~')) : document.id);
    query.cursor = page.nextCursor;
  } while (!query.cursor.empty() && ids.size() < limit);
  return ids;
}

Result<std::vector<std::string>> Directory::ofRole(const std::string& role, std::size_t limit) {
  return listIds(kAgents, "role", role, limit, false);
}

Result<std::vector<std::string>> Directory::subscribers(const std::string& topic, std::size_t limit) {
  return listIds(kSubscriptions, "topic", topic, limit, true);
}

Result<std::vector<std::string>> Directory::agents(std::size_t limit) {
  return listIds(kAgents, {}, {}, limit, false);
}

Status Directory::subscribe(const std::string& agentId, const std::string& topic, std::size_t max) {
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  if (store->get(kSubscriptions, subscriptionId(agentId, topic)).ok()) return okStatus();
  auto mine = HIVE_TRY(listIds(kSubscriptions, "agent", agentId, max + 1, true));
  if (mine.size() >= max)
    return Status(StatusCode::kResourceExhausted, "agent " + agentId + " has " + std::to_string(max) +
                                                      " topic subscriptions (max_subscriptions)");
  store::Document document;
  document.id = subscriptionId(agentId, topic);
  document.body = "{}";
  document.index["topic"] = topic;
  document.index["agent"] = agentId;
  return store->put(kSubscriptions, std::move(document)).status();
}

Status Directory::unsubscribe(const std::string& agentId, const std::string& topic) {
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  Status removed = store->remove(kSubscriptions, subscriptionId(agentId, topic));
  return removed.code() == StatusCode::kNotFound ? okStatus() : removed;
}

Status Directory::discard(const std::string& deadLetterKey) {
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  store::Document document;
  document.id = deadLetterKey;
  document.body = "{}";
  return store->put(kDiscarded, std::move(document)).status();
}

Result<bool> Directory::discarded(const std::string& deadLetterKey) {
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  auto found = store->get(kDiscarded, deadLetterKey);
  if (found.ok()) return true;
  if (found.status().code() == StatusCode::kNotFound) return false;
  return found.status();
}

}  // namespace hive::communication_manager
