// The one publisher of task events on hive.bus/1. Units of work hand it their
// events after they commit, in commit order; it publishes them on "tasks.<id>"
// and "tasks" from a blocking thread, off the path of the answer: a bus whose
// publish waits for a server (Redis) no longer delays the answer to a
// submission or a report. The durable event log already has every event, so a
// missing bus loses nothing a client cannot read back.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "hive/context.hpp"

namespace hive::task_manager {

struct TaskEvent {
  std::string taskId;
  std::string body;  // JSON
};

class EventPublisher final : public std::enable_shared_from_this<EventPublisher> {
 public:
  explicit EventPublisher(PluginContext& context) : context_(context) {}

  // Queues `events` behind those of earlier commits. Blocks while
  // kPublishBacklog events wait, so that a store faster than the bus waits for
  // it rather than filling memory. Nothing is queued after close().
  void publish(const std::vector<TaskEvent>& events);
  // Nothing waiting or being published.
  bool idle();
  // Wakes committers waiting for room; later events are dropped.
  void close();

 private:
  void drain();

  PluginContext& context_;
  std::mutex mutex_;
  std::condition_variable room_;  // signalled when the backlog shrinks or on close
  std::deque<TaskEvent> waiting_;
  bool running_ = false;  // a drain is posted or running
  bool closed_ = false;
};

}  // namespace hive::task_manager
