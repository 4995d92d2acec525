// hive.agent_frames/1 — frames of the remote agent protocol for extension
// plugins. Provided by the orchestrator, which owns the agents' WebSockets
// (docs/agent-protocol.md); used by plugins that add frame types of their own
// ("message.*" by communication_manager, "context.*" by context_manager).
//
// Threading and order: a frame handler runs on the agent's session thread (the
// blocking pool), one frame at a time per agent, in the order the agent sent
// them; frames of different agents may be handled at the same time. It may
// block briefly (a bus append), and blocks that agent's next frames meanwhile.
// Presence callbacks run on the session thread of the agent concerned.
//
// Lifetime: the Subscription handles follow hive/callbacks.hpp. They follow a
// hot swap of the orchestrator by themselves (the handler keeps receiving from
// the next generation) and pin the generation that made them until destroyed;
// destroy them in your stop(). send() and connected() are calls on one
// provider generation: call them through a ServiceHandle lease held for that
// call only. After the provider stopped they answer kUnavailable / nothing.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hive/services.hpp"
#include "hive/status.hpp"

namespace hive::agents {

// A remote agent connected to this node, or one that just left it.
struct AgentPresence {
  std::string agentId;  // stable across reconnects (the hello's agent_id)
  std::string name;
  std::string role;                       // may be empty
  std::vector<std::string> capabilities;  // sorted
  bool connected = false;                 // false: it left this node
};

class AgentFrames : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.agent_frames", 1};

  // `frame` is the agent's text exactly as sent: one JSON object with a string
  // "type" starting with the handler's prefix. `agentId` is the sending agent
  // (it said hello on this connection).
  using FrameHandler = std::function<void(const std::string& agentId, const std::string& frame)>;
  using PresenceHandler = std::function<void(const AgentPresence& presence)>;

  // Frames whose type starts with `prefix` go to `handler` instead of being
  // refused as unknown. `prefix`: 2-64 characters, [a-z0-9_] then one '.'
  // at the end ("message."); the core types ("hello", "heartbeat", "task.*") cannot be
  // taken (kInvalidArgument). Several handlers may share a prefix (a swap of
  // the consumer overlaps its generations): a frame goes to one handler only,
  // the one with the longest matching prefix, among those the newest.
  virtual Result<std::unique_ptr<Subscription>> onFrames(std::string_view prefix, FrameHandler handler) = 0;

  // Sends `frame` (one JSON object with a string "type"; the provider adds
  // "ts") to the agent when it is connected to this node. OK: queued on its
  // connection, in order with what the orchestrator sends it. kNotFound: it is
  // not connected here. kInvalidArgument: not a JSON object text.
  // kResourceExhausted: the agent reads nothing and its backlog is full (its
  // connection is closed). kUnavailable: the provider stopped.
  virtual Status send(std::string_view agentId, std::string frame) = 0;

  // `handler` is called after an agent said hello on this node
  // (connected = true) and after its connection ended (connected = false; not
  // when the same agent already reconnected on a newer connection of the same
  // generation). A generation handing its agents over to the next one (a hot
  // swap) reports them gone at once; they may say hello to the next one before
  // their old connection's end is reported: before dropping what you keep for
  // an agent, ask connected() of the provider serving now.
  [[nodiscard]] virtual std::unique_ptr<Subscription> onPresence(PresenceHandler handler) = 0;

  // The agents connected to this node now (a consumer that starts after them).
  virtual std::vector<AgentPresence> connected() = 0;
};

}  // namespace hive::agents
