// The agent protocol's `context.*` frames (docs/agent-protocol.md), taken
// through hive.agent_frames/1 when an orchestrator provides it:
//   context.put   {scope, text, metadata?, ref?}   -> context.stored {id, scope, ref}
//   context.query {scope, q, k?, mode?, ref?}      -> context.result {scope, ref, items: [{id, text, score}]}
// and `error` {message, reason, ref} for a refused frame (reason
// invalid_frame, too_large, unavailable). The work runs on the blocking
// executor (Jobs), off the agent's session thread, so an embedder call does
// not hold the agent's other frames; answers carry the agent's `ref`.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "compressor.hpp"
#include "contexts.hpp"
#include "hive/context.hpp"
#include "hive/follower.hpp"
#include "hive/services/agent_frames.hpp"
#include "jobs.hpp"

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
  std::string authorOf(const std::string& agentId);

  PluginContext& context_;
  std::shared_ptr<Contexts> contexts_;
  std::shared_ptr<Compressor> compressor_;
  Jobs& jobs_;
  std::mutex mutex_;
  std::map<std::string, std::string> names_;  // agent id -> name, of the agents connected here
  ServiceFollower<agents::AgentFrames> handler_;
  ServiceFollower<agents::AgentFrames> presence_;
};

}  // namespace hive::context_manager
