// The orchestrator of one plugin generation: the parts below, wired together,
// opened and closed as one. Agents (remote ones over WebSocket, process ones
// run by hive.executor/1) are kept in the registry; the dispatcher hands them
// tasks from hive.tasks/1 when wake-ups say there is work; health watches
// their heartbeats, claim windows and breakers; cancellations reach the agent
// holding the task.
#pragma once

#include <memory>

#include "agent_admin.hpp"
#include "agent_frames.hpp"
#include "agent_records.hpp"
#include "agent_registry.hpp"
#include "background.hpp"
#include "cancel_watch.hpp"
#include "cancellation.hpp"
#include "dispatcher.hpp"
#include "environment.hpp"
#include "health.hpp"
#include "hive/follower.hpp"
#include "process_agents.hpp"
#include "remote_agents.hpp"
#include "results.hpp"

namespace hive::orchestrator {

class Orchestrator : public std::enable_shared_from_this<Orchestrator> {
 public:
  // `clock` outlives the orchestrator.
  // `handlers` outlives the orchestrator (the plugin owns them).
  static std::shared_ptr<Orchestrator> create(PluginContext& context, const Clock& clock, Options options,
                                              ServiceHandle<tasks::TaskService> tasks,
                                              ServiceHandle<store::Store> store, FrameHandlers& handlers);

  Status open();
  // Stops dispatch and closes remote agents' sockets with 1001 (they reconnect
  // to whichever generation or node serves next; their leases stay valid);
  // process agents' jobs are cancelled.
  void close();
  bool idle() const { return background_.idle(); }

  // Health (heartbeats, breakers, claim windows), process agents that appeared,
  // records written and purged, then a dispatch, which is also the safety net
  // for wake-ups nobody sent (a retry whose backoff ended). On the blocking
  // executor, never two at once.
  void sweep();

  RemoteAgents& remoteAgents() { return remote_; }
  AgentAdmin& admin() { return admin_; }
  FrameRouter& frames() { return frames_; }
  Background& background() { return background_; }
  const Options& options() const { return options_; }
  Environment& environment() { return env_; }

  Orchestrator(PluginContext& context, const Clock& clock, Options options,
               ServiceHandle<tasks::TaskService> tasks, ServiceHandle<store::Store> store,
               FrameHandlers& handlers);

 private:
  // Wake-ups from hive.tasks/1; the follower takes a new subscription from
  // each provider generation (the old one's is dropped while it is loaded).
  std::unique_ptr<Subscription> subscribeToWork(tasks::TaskService& tasks);

  const Options options_;
  Background background_;
  Environment env_;
  AgentRegistry registry_;
  AgentRecords records_;
  FrameRouter frames_;
  CancelWatch cancelWatch_;
  // Each part holds references to the parts it calls; some are declared after
  // it (the dispatcher starts process agents, which report results, which ask
  // for a dispatch), and none uses another before open().
  Dispatcher dispatcher_;
  Results results_;
  ProcessAgents processAgents_;
  HealthMonitor health_;
  RemoteAgents remote_;
  Cancellation cancellation_;
  AgentAdmin admin_;
  ServiceFollower<tasks::TaskService> work_;
};

}  // namespace hive::orchestrator
