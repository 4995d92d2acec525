#include "agent_frames.hpp"

#include <chrono>
#include <cstdio>

#include "plugin_common/tenant_capability.hpp"

namespace hive::orchestrator {
namespace {

// What a frame handler registered: its prefix, then when (steady clock, so the
// newest registration of a prefix can be told apart across generations).
constexpr char kStampSeparator = '\n';

std::string registrationKey(std::string_view prefix) {
  auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
  char digits[24];
  std::snprintf(digits, sizeof digits, "%020lld", static_cast<long long>(stamp));
  return std::string(prefix) + kStampSeparator + digits;
}

Status checkPrefix(std::string_view prefix) {
  if (prefix.size() < 2 || prefix.size() > 64 || prefix.back() != '.')
    return invalidArgument("a frame prefix is 2-64 characters ending with '.' (\"message.\"), got '" +
                           std::string(prefix) + "'");
  for (char c : prefix.substr(0, prefix.size() - 1))
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return invalidArgument("a frame prefix holds [a-z0-9_] before its '.', got '" + std::string(prefix) +
                             "'");
  // The orchestrator's own types are never handed out.
  if (prefix == "task." || prefix == "hello." || prefix == "heartbeat.")
    return invalidArgument("frame prefix '" + std::string(prefix) + "' belongs to the orchestrator");
  return okStatus();
}

// "ts" first, as in every frame the orchestrator writes.
Result<std::string> stamped(std::string frame, std::int64_t now) {
  std::size_t open = frame.find_first_not_of(" \t\r\n");
  if (open == std::string::npos || frame[open] != '{' || frame.find("\"type\"") == std::string::npos)
    return invalidArgument("a frame is one JSON object with a string \"type\"");
  std::size_t next = frame.find_first_not_of(" \t\r\n", open + 1);
  bool empty = next != std::string::npos && frame[next] == '}';
  frame.insert(open + 1, "\"ts\":" + std::to_string(now) + (empty ? "" : ","));
  return frame;
}

// A named tenant's agent has "tenant:<name>" among its capabilities, as it
// claims tasks with (plugin_common/tenant_capability.hpp): how frame handlers
// (communication_manager, context_manager) learn its tenant.
agents::AgentPresence presenceOf(const Agent& agent, bool connected) {
  return {agent.id, agent.name, agent.role, plugin_common::withTenant(agent.capabilities, agent.tenant),
          connected};
}

class AgentFramesService final : public agents::AgentFrames {
 public:
  AgentFramesService(std::weak_ptr<void> owner, FrameRouter& router, const Background& background)
      : owner_(std::move(owner)), router_(router), background_(background) {}

  Result<std::unique_ptr<Subscription>> onFrames(std::string_view prefix, FrameHandler handler) override {
    auto alive = owner_.lock();
    if (!alive || !background_.open()) return unavailable("the orchestrator stopped");
    return router_.onFrames(prefix, std::move(handler));
  }
  Status send(std::string_view agentId, std::string frame) override {
    auto alive = owner_.lock();
    if (!alive || !background_.open()) return unavailable("the orchestrator stopped");
    return router_.send(agentId, std::move(frame));
  }
  std::unique_ptr<Subscription> onPresence(PresenceHandler handler) override {
    auto alive = owner_.lock();
    if (!alive) return nullptr;
    return router_.onPresence(std::move(handler));
  }
  std::vector<agents::AgentPresence> connected() override {
    auto alive = owner_.lock();
    if (!alive || !background_.open()) return {};
    return router_.connected();
  }

 private:
  std::weak_ptr<void> owner_;
  FrameRouter& router_;
  const Background& background_;
};

}  // namespace

FrameHandlers::FrameHandlers(ServiceRegistry& services, Logger& log)
    : frames(services, "orchestrator.agent_frames"), presence(services, "orchestrator.agent_presence") {
  frames.onError([&log](const std::string& key, const std::string& what) {
    log.warn("a handler of agent frames '" + key.substr(0, key.find(kStampSeparator)) + "' threw: " + what);
  });
  presence.onError([&log](const std::string&, const std::string& what) {
    log.warn("an agent presence handler threw: " + what);
  });
}

FrameRouter::FrameRouter(Environment& environment, AgentRegistry& registry, FrameHandlers& handlers)
    : env_(environment), registry_(registry), frames_(handlers.frames), presence_(handlers.presence) {}

bool FrameRouter::dispatch(const std::string& agentId, std::string_view type, const std::string& text) {
  std::string best;
  std::size_t bestLength = 0;
  for (const auto& key : frames_.keys()) {
    std::size_t cut = key.find(kStampSeparator);
    std::string_view prefix(key.data(), cut);
    if (type.substr(0, prefix.size()) != prefix) continue;
    if (prefix.size() > bestLength || (prefix.size() == bestLength && key > best)) {
      best = key;
      bestLength = prefix.size();
    }
  }
  if (best.empty()) return false;
  return frames_.fireWhere([&](const std::string& key) { return key == best; }, agentId, text) > 0;
}

agents::AgentPresence FrameRouter::arrived(const std::string& agentId) {
  auto agent = registry_.find(agentId);
  agents::AgentPresence presence =
      agent ? presenceOf(*agent, true) : agents::AgentPresence{agentId, {}, {}, {}, true};
  presence_.fire(presence);
  return presence;
}

void FrameRouter::left(agents::AgentPresence presence, const http::WebSocketPeer* peer) {
  bool elsewhere = registry_.withLock([&](AgentTable& table) {
    auto found = table.byId.find(presence.agentId);
    return found != table.byId.end() && found->second.peer && found->second.peer.get() != peer;
  });
  if (elsewhere) return;
  presence.connected = false;
  presence_.fire(presence);
}

void FrameRouter::handedOver(const Agent& agent) { presence_.fire(presenceOf(agent, false)); }

Result<std::unique_ptr<Subscription>> FrameRouter::onFrames(std::string_view prefix,
                                                            agents::AgentFrames::FrameHandler handler) {
  HIVE_TRY(checkPrefix(prefix));
  if (!handler) return invalidArgument("a frame handler is needed");
  return frames_.subscribe(std::move(handler), registrationKey(prefix));
}

std::unique_ptr<Subscription> FrameRouter::onPresence(agents::AgentFrames::PresenceHandler handler) {
  return presence_.subscribe(std::move(handler));
}

Status FrameRouter::send(std::string_view agentId, std::string frame) {
  std::shared_ptr<AgentChannel> channel =
      registry_.withLock([&](AgentTable& table) -> std::shared_ptr<AgentChannel> {
        auto found = table.byId.find(std::string(agentId));
        return found != table.byId.end() && found->second.peer ? found->second.channel : nullptr;
      });
  if (!channel) return notFound("agent " + std::string(agentId) + " is not connected to this node");
  std::string text = HIVE_TRY(stamped(std::move(frame), env_.now()));
  Status sent = channel->send(std::move(text));
  if (sent.code() == StatusCode::kResourceExhausted) {
    env_.log().warn("remote agent connection " + channel->peer()->id() + " closed: " + sent.message());
    channel->peer()->close(1008, "not reading its messages");
  }
  return sent;
}

std::vector<agents::AgentPresence> FrameRouter::connected() {
  return registry_.withLock([&](AgentTable& table) {
    std::vector<agents::AgentPresence> out;
    for (const auto& [id, local] : table.byId)
      if (local.peer) out.push_back(presenceOf(local.agent, true));
    return out;
  });
}

std::shared_ptr<agents::AgentFrames> makeAgentFramesService(std::weak_ptr<void> owner, FrameRouter& router,
                                                            const Background& background) {
  return std::make_shared<AgentFramesService>(std::move(owner), router, background);
}

}  // namespace hive::orchestrator
