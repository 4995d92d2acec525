#include "agent_records.hpp"

#include "render.hpp"

namespace hive::orchestrator {
namespace {

constexpr const char* kAgents = "agents";
constexpr std::size_t kPurgeBatch = 256;  // records looked at per sweep

store::Document toDocument(const Agent& agent) {
  store::Document d;
  d.id = agent.id;
  d.body = renderStoredAgent(agent);
  d.index = {{"status", std::string(statusName(agent.status))}, {"name", agent.name}};
  return d;
}

}  // namespace

Status AgentRecords::open() {
  auto store = env_.store.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  HIVE_TRY(store->declareCollection({kAgents, {"status", "name"}}));
  registered_ = HIVE_TRY(count(), "counting the agent registry");
  lastCountMs_ = env_.now();
  return okStatus();
}

void AgentRecords::persist(const Agent& agent) {
  auto store = env_.store.lease();
  if (!store) return;
  auto put = store->put(kAgents, toDocument(agent), store::kAnyVersion);
  if (!put.ok()) env_.log().warn("agent " + agent.id + " not saved: " + put.status().message());
}

void AgentRecords::persistAll(const std::vector<Agent>& agents) {
  if (agents.empty()) return;
  auto store = env_.store.lease();
  if (!store) return;
  Status written = store->transact([&](store::Transaction& tx) -> Status {
    for (const auto& agent : agents)
      HIVE_TRY(tx.put(kAgents, toDocument(agent), store::kAnyVersion).status());
    return okStatus();
  });
  if (written.ok()) return;
  env_.log().warn(std::to_string(agents.size()) + " agent records not saved together (" + written.message() +
                  "): one by one");
  for (const auto& agent : agents) persist(agent);
}

void AgentRecords::persistUnsaved() { persistAll(registry_.takeUnsaved()); }

void AgentRecords::persistSoon(const std::string& agentId) {
  Background& background = env_.background;
  background.hold();
  writes_->post([this, agentId, &background, keep = background.owner().lock()] {
    if (auto now = registry_.takeUnsaved(agentId)) persist(*now);
    background.release();
  });
}

Status AgentRecords::create(const Agent& agent) {
  auto store = env_.store.lease();
  if (!store) return unavailable("storage is unavailable");
  return store->put(kAgents, toDocument(agent), store::kMustNotExist).status();
}

Status AgentRecords::remove(const std::string& id) {
  auto store = env_.store.lease();
  if (!store) return unavailable("storage is unavailable");
  Status removed = store->remove(kAgents, id);
  if (removed.ok()) unregistered();
  return removed;
}

Result<std::optional<Agent>> AgentRecords::load(const std::string& id) {
  auto store = env_.store.lease();
  if (!store) return unavailable("storage is unavailable");
  auto stored = store->get(kAgents, id);
  if (!stored.ok()) {
    if (stored.status().code() == StatusCode::kNotFound) return std::optional<Agent>();
    return stored.status();
  }
  return std::optional<Agent>(HIVE_TRY(fromStoredJson(stored->body)));
}

Result<AgentPage> AgentRecords::page(const std::string& status, std::size_t limit,
                                     const std::string& cursor) {
  auto store = env_.store.lease();
  if (!store) return unavailable("storage is unavailable");
  std::map<std::string, std::string> equals;
  if (!status.empty()) equals["status"] = status;
  auto page = store->list({kAgents, equals, limit, cursor});
  if (!page.ok()) return page.status();
  AgentPage out;
  out.nextCursor = page->nextCursor;
  for (const auto& d : page->items)
    if (auto agent = fromStoredJson(d.body); agent.ok()) out.items.push_back(std::move(agent).value());
  return out;
}

void AgentRecords::unregistered() {
  std::size_t count = registered_.load();
  while (count > 0 && !registered_.compare_exchange_weak(count, count - 1)) {
  }
}

Status AgentRecords::reserve() {
  std::size_t count = registered_.load();
  const std::size_t limit = env_.options.maxRegisteredAgents;
  while (count < limit)
    if (registered_.compare_exchange_weak(count, count + 1)) return okStatus();
  // Full as far as this node knows: count again (other nodes purge too), at
  // most once per sweep period so that a flood of hellos cannot turn into a
  // flood of full scans.
  std::int64_t now = env_.now(), last = lastCountMs_.load();
  if (now - last >= env_.options.sweepPeriod.count() && lastCountMs_.compare_exchange_strong(last, now)) {
    auto counted = this->count();
    if (counted.ok()) registered_ = *counted;
  }
  count = registered_.load();
  while (count < limit)
    if (registered_.compare_exchange_weak(count, count + 1)) return okStatus();
  return resourceExhausted("the agent registry is full (" + std::to_string(limit) +
                           " agents, max_registered_agents): delete agents or wait for offline ones to be "
                           "purged after agent_retention");
}

Result<std::size_t> AgentRecords::count() {
  auto store = env_.store.lease();
  if (!store) return unavailable("storage is unavailable");
  std::size_t count = 0;
  std::string cursor;
  do {
    auto page = store->list({kAgents, {}, 1000, cursor});
    if (!page.ok()) return page.status();
    count += page->items.size();
    cursor = page->nextCursor;
  } while (!cursor.empty());
  return count;
}

void AgentRecords::purge(std::int64_t now) {
  auto store = env_.store.lease();
  if (!store) return;
  // One page per sweep, resuming where the last one stopped: the work per
  // sweep is bounded whatever the size of the registry.
  auto page = store->list({kAgents, {}, kPurgeBatch, purgeCursor_});
  if (!page.ok()) {
    purgeCursor_.clear();  // e.g. a cursor from a store that was since replaced
    return;
  }
  purgeCursor_ = page->nextCursor;
  std::size_t purged = 0;
  for (const auto& document : page->items) {
    if (now - document.updatedAtMs < env_.options.agentRetention.count()) continue;
    auto agent = fromStoredJson(document.body);
    if (!agent.ok() || agent->runtime != Runtime::kRemote) continue;
    // A record another node keeps up to date is connected there (its status is
    // not offline); one naming this node but unknown here was left by an
    // earlier run of this node.
    if (agent->status != AgentStatus::kOffline && agent->node != env_.options.node) continue;
    if (registry_.serves(document.id)) continue;
    // The version check loses to an agent that reconnects meanwhile.
    if (!store->remove(kAgents, document.id, document.version).ok()) continue;
    ++purged;
    unregistered();
  }
  if (purged > 0)
    env_.log().info("purged " + std::to_string(purged) + " agent record(s) not connected for " +
                    durationText(env_.options.agentRetention) + " (agent_retention)");
}

}  // namespace hive::orchestrator
