// The one publisher of task events on hive.bus/1. Units of work hand it their
// events after they commit; it publishes them in commit order on "tasks.<id>"
// and "tasks" from a blocking thread, off the path of the answer: a bus whose
// publish waits for a server (Redis) no longer delays the answer to a
// submission or a report. The durable event log already has every event, so a
// missing bus loses nothing a client cannot read back.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
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

  // Commit order. Threads return from their commits in any order, so a unit
  // of work takes a ticket inside its transaction, right after its last write
  // to the event log (which takes the log's lock and holds it to the commit:
  // tickets follow commit order), and then either hands its events over with
  // the ticket or, when it did not commit (or runs again), gives it back.
  std::uint64_t take();
  void abandon(std::uint64_t ticket);
  // Queues `events` once every earlier ticket was published or given back.
  // Blocks while kPublishBacklog events wait, so that a store faster than the
  // bus waits for it rather than filling memory. Nothing is queued after close().
  void publish(std::uint64_t ticket, std::vector<TaskEvent> events);
  // Nothing waiting or being published.
  bool idle();
  // Wakes committers waiting for room; later events are dropped.
  void close();

 private:
  void drain();
  // Under mutex_: a ticket done (`events` may be empty); moves what is now in
  // order to waiting_. True when a drain must be posted.
  bool settle(std::uint64_t ticket, std::vector<TaskEvent> events);

  PluginContext& context_;
  std::mutex mutex_;
  std::condition_variable room_;  // signalled when the backlog shrinks or on close
  std::deque<TaskEvent> waiting_;
  bool running_ = false;  // a drain is posted or running
  std::uint64_t nextTicket_ = 0;
  std::uint64_t head_ = 0;                                  // the next ticket to queue
  std::map<std::uint64_t, std::vector<TaskEvent>> parked_;  // done, behind an earlier ticket
  bool closed_ = false;
};

}  // namespace hive::task_manager
