#include "directory.hpp"

#include <boost/json.hpp>

#include "plugin_common/json_fields.hpp"
#include "plugin_common/tenant_capability.hpp"

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
  HIVE_TRY(store->declareCollection({kAgents, {"role", "tenant"}}));
  HIVE_TRY(store->declareCollection({kSubscriptions, {"topic", "agent", "tenant"}}));
  HIVE_TRY(store->declareCollection({kDiscarded, {}}));
  return okStatus();
}

Status Directory::record(const agents::AgentPresence& presence) {
  const std::string tenant = plugin_common::tenantOfSet(presence.capabilities);
  std::string key = presence.agentId + "\n" + presence.role + "\n" + tenant;
  {
    std::lock_guard lock(mutex_);
    if (recorded_.count(key) != 0) return okStatus();
  }
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  store::Document document;
  document.id = presence.agentId;
  json::object body{{"name", presence.name}, {"role", presence.role}};
  if (!tenant.empty()) body["tenant"] = tenant;
  document.body = json::serialize(body);
  document.index = {{"role", presence.role}, {"tenant", tenant}};
  HIVE_TRY(store->put(kAgents, std::move(document)).status());
  std::lock_guard lock(mutex_);
  recorded_.insert(key);
  known_[presence.agentId] = tenant;
  return okStatus();
}

Result<std::optional<std::string>> Directory::tenantOf(const std::string& agentId) {
  {
    std::lock_guard lock(mutex_);
    if (auto found = known_.find(agentId); found != known_.end()) return std::optional(found->second);
  }
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  auto found = store->get(kAgents, agentId);
  if (found.status().code() == StatusCode::kNotFound) return std::optional<std::string>();
  HIVE_TRY(found.status());
  std::error_code ec;
  json::value body = json::parse(found->body, ec);
  std::string name = !ec && body.is_object() ? plugin_common::stringField(body.as_object(), "tenant") : "";
  std::lock_guard lock(mutex_);
  known_[agentId] = name;
  return std::optional(name);
}

Result<std::vector<std::string>> Directory::listIds(const std::string& collection, const std::string& field,
                                                    const std::string& value, const Tenant& tenant,
                                                    std::size_t limit, bool agentPart) {
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  std::vector<std::string> ids;
  store::ListQuery query;
  query.collection = collection;
  if (!field.empty()) query.equals[field] = value;
  // A named tenant's by the index; the default tenant's also include records
  // made before tenancy (nothing indexed): read unfiltered, then checked.
  if (tenant && !tenant->empty()) query.equals["tenant"] = *tenant;
  do {
    query.limit = std::min<std::size_t>(1000, limit - ids.size());
    auto page = HIVE_TRY(store->list(query));
    for (auto& document : page.items) {
      std::string id = agentPart ? document.id.substr(0, document.id.find('~')) : document.id;
      if (tenant && tenant->empty()) {
        auto of = HIVE_TRY(tenantOf(id));
        if (!of || !of->empty()) continue;
      }
      ids.push_back(std::move(id));
    }
    query.cursor = page.nextCursor;
  } while (!query.cursor.empty() && ids.size() < limit);
  return ids;
}

Result<std::vector<std::string>> Directory::ofRole(const std::string& role, const Tenant& tenant,
                                                   std::size_t limit) {
  return listIds(kAgents, "role", role, tenant, limit, false);
}

Result<std::vector<std::string>> Directory::subscribers(const std::string& topic, const Tenant& tenant,
                                                        std::size_t limit) {
  return listIds(kSubscriptions, "topic", topic, tenant, limit, true);
}

Result<std::vector<std::string>> Directory::agents(const Tenant& tenant, std::size_t limit) {
  return listIds(kAgents, {}, {}, tenant, limit, false);
}

Status Directory::subscribe(const std::string& agentId, const std::string& topic, std::size_t max) {
  auto store = store_.lease();
  if (!store) return unavailable("storage is unavailable");
  if (store->get(kSubscriptions, subscriptionId(agentId, topic)).ok()) return okStatus();
  auto mine = HIVE_TRY(listIds(kSubscriptions, "agent", agentId, std::nullopt, max + 1, true));
  if (mine.size() >= max)
    return Status(StatusCode::kResourceExhausted, "agent " + agentId + " has " + std::to_string(max) +
                                                      " topic subscriptions (max_subscriptions)");
  auto tenant = HIVE_TRY(tenantOf(agentId));
  store::Document document;
  document.id = subscriptionId(agentId, topic);
  document.body = "{}";
  document.index["topic"] = topic;
  document.index["agent"] = agentId;
  document.index["tenant"] = tenant.value_or("");
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
