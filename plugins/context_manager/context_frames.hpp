// The agent protocol's `context.*` frames (docs/agent-protocol.md), taken
// through hive.agent_frames/1 when an orchestrator provides it:
//   context.put   {scope, text, metadata?, ref?}   -> context.stored {id, scope, ref}
//   context.query {scope, q, k?, mode?, ref?}      -> context.result {scope, ref, items: [{id, text, score}]}
// and `error` {message, reason, ref} for a refused frame (reason
// invalid_frame, too_large, unavailable). The work runs on the blocking
// executor (Jobs), off the agent's session thread, so an embedder call does
// not hold the agent's other frames; answers carry the agent's `ref`.
//
// An agent works in its tenant's contexts only. The orchestrator names the
// tenant in the agent's presence, as its "tenant:<name>" capability
// (plugin_common/tenant_capability.hpp; none: the default tenant), and the
// entry's author is the agent's principal (agentPrincipal: "agent:<name>",
// "agent+<tenant>:<name>"). A frame of an agent whose presence this plugin
// has not seen, even after asking the provider, is refused (unavailable):
// its tenant is unknown.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "compressor.hpp"
#include "contexts.hpp"
#include "hive/context.hpp"
#include "hive/follower.hpp"
#include "hive/services/agent_frames.hpp"
#include "jobs.hpp"
#include "plugin_common/agent_principal.hpp"

namespace hive::context_manager {

class ContextFrames {
 public:
  ContextFrames(PluginContext& context, std::shared_ptr<Contexts> contexts,
                std::shared_ptr<Compressor> compressor, Jobs& jobs);
  // Follows the provider of hive.agent_frames/1; none yet is fine (attached
  // when an orchestrator starts).
  void start();
  void stop();

 private:
  void onFrame(const std::string& agentId, const std::string& frame);
  void answer(const std::string& agentId, const std::string& frame);
  // The agent's name and tenant; nullopt when no presence of it is known.
  std::optional<plugin_common::AgentIdentity> identityOf(const std::string& agentId);

  PluginContext& context_;
  std::shared_ptr<Contexts> contexts_;
  std::shared_ptr<Compressor> compressor_;
  Jobs& jobs_;
  std::mutex mutex_;
  std::map<std::string, plugin_common::AgentIdentity> agents_;  // by agent id, of the agents connected here
  ServiceFollower<agents::AgentFrames> handler_;
  ServiceFollower<agents::AgentFrames> presence_;
};

}  // namespace hive::context_manager
