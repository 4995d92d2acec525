// hive.agent_frames/1 (sdk/include/hive/services/agent_frames.hpp): frame
// types of other plugins on the agents' WebSockets, and the agents' comings
// and goings on this node.
//
// The handlers live in hive::CallbackRegistry objects shared by every
// generation of the orchestrator (through hive.generation/1): a consumer's
// handler keeps receiving after the orchestrator is swapped, and a consumer
// swapped or stopped drops its handler safely at any time.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent_registry.hpp"
#include "environment.hpp"
#include "hive/callbacks.hpp"
#include "hive/services/agent_frames.hpp"

namespace hive::orchestrator {

// The consumers' handlers. Owned by the plugin, not by an orchestrator (which
// a session may keep alive past stop()): shared registries are made and
// dropped in lifecycle methods only (hive/callbacks.hpp).
struct FrameHandlers {
  // A handler that throws is logged to `log`; the frame counts as handled.
  FrameHandlers(ServiceRegistry& services, Logger& log);
  CallbackRegistry<const std::string&, const std::string&> frames;
  CallbackRegistry<const agents::AgentPresence&> presence;
};

class FrameRouter {
 public:
  FrameRouter(Environment& environment, AgentRegistry& registry, FrameHandlers& handlers);

  // From an agent's session. True when a handler took the frame of `type`.
  bool dispatch(const std::string& agentId, std::string_view type, const std::string& text);
  // After a hello was welcomed: tells the presence handlers, returns what it told.
  agents::AgentPresence arrived(const std::string& agentId);
  // After the session of `peer` ended: tells them, unless the agent is
  // connected again on another connection.
  void left(agents::AgentPresence presence, const http::WebSocketPeer* peer);
  // The generation handed `agent` over to the next one (its session may end later).
  void handedOver(const Agent& agent);

  // hive.agent_frames/1
  Result<std::unique_ptr<Subscription>> onFrames(std::string_view prefix,
                                                 agents::AgentFrames::FrameHandler handler);
  std::unique_ptr<Subscription> onPresence(agents::AgentFrames::PresenceHandler handler);
  Status send(std::string_view agentId, std::string frame);
  std::vector<agents::AgentPresence> connected();

 private:
  Environment& env_;
  AgentRegistry& registry_;
  CallbackRegistry<const std::string&, const std::string&>& frames_;
  CallbackRegistry<const agents::AgentPresence&>& presence_;
};

// The service object a generation provides; answers kUnavailable once its
// orchestrator is closed (a consumer may call it after stop()).
std::shared_ptr<agents::AgentFrames> makeAgentFramesService(std::weak_ptr<void> owner, FrameRouter& router,
                                                            const Background& background);

}  // namespace hive::orchestrator
