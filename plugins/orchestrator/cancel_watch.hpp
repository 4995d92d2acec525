// Learns that tasks were cancelled, on this node or another: task_manager
// publishes every state change of a task on the bus topic "tasks" after it
// commits, and a cancellation is the event "task.cancelled". The orchestrator
// needs it to stop the work it handed out (task.cancel to a remote agent, a
// killed process tree for a process agent).
//
// Follows hive.bus/1 across swaps of its provider (hive::ServiceFollower). Without a bus nothing is
// learnt here: a remote agent then finds out at its next report (refused as
// stale) and a process agent's job runs to its end or its timeout.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

#include "hive/context.hpp"
#include "hive/follower.hpp"
#include "hive/services/bus.hpp"

namespace hive::orchestrator {

class CancelWatch {
 public:
  // `onCancelled` runs on a bus thread, once per cancellation event, with the
  // task's id and traceparent ("" when it has none); it must not block (post
  // the work elsewhere).
  using OnCancelled = std::function<void(const std::string& taskId, const std::string& traceparent)>;
  CancelWatch(PluginContext& context, OnCancelled onCancelled);
  ~CancelWatch();
  CancelWatch(const CancelWatch&) = delete;
  CancelWatch& operator=(const CancelWatch&) = delete;

  // Subscribes to the bus serving now, or to the first one that appears.
  void start();
  // Drops the subscription; waits for a callback that is running.
  void stop();

  // Whether `taskId` was cancelled among the last kRemembered cancellations:
  // a task claimed just before its cancellation committed may reach the
  // dispatcher after the event did, and must not be handed out then.
  bool recentlyCancelled(const std::string& taskId) const;

  // The task id of a "task.cancelled" event's payload; empty for any other
  // event. Exposed for the tests.
  static std::string cancelledTaskId(std::string_view payload);

  static constexpr std::size_t kRemembered = 4096;

 private:
  std::unique_ptr<Subscription> subscribe(bus::Bus& bus);
  void remember(const std::string& taskId);

  OnCancelled onCancelled_;
  mutable std::mutex recentMutex_;
  std::deque<std::string> recentOrder_;
  std::unordered_set<std::string> recent_;
  // Last: its callback uses the members above.
  ServiceFollower<bus::Bus> events_;
};

}  // namespace hive::orchestrator
