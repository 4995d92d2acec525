#include "publisher.hpp"

#include "hive/services/bus.hpp"
#include "plugin_common/trace_context.hpp"

namespace hive::task_manager {

// At most this many events wait for the bus.
constexpr std::size_t kPublishBacklog = 65536;

std::uint64_t EventPublisher::take() {
  std::lock_guard lock(mutex_);
  return nextTicket_++;
}

void EventPublisher::abandon(std::uint64_t ticket) {
  bool post = false;
  {
    std::lock_guard lock(mutex_);
    post = settle(ticket, {});
  }
  if (post) context_.blocking().post([self = shared_from_this()] { self->drain(); });
}

void EventPublisher::publish(std::uint64_t ticket, std::vector<TaskEvent> events) {
  bool post = false;
  {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [&] { return waiting_.size() < kPublishBacklog || closed_ || ticket != head_; });
    if (closed_) events.clear();  // the ticket still settles: later ones must not wait for it
    post = settle(ticket, std::move(events));
  }
  if (post) context_.blocking().post([self = shared_from_this()] { self->drain(); });
}

bool EventPublisher::settle(std::uint64_t ticket, std::vector<TaskEvent> events) {
  parked_[ticket] = std::move(events);
  bool queued = false;
  for (auto next = parked_.begin(); next != parked_.end() && next->first == head_; next = parked_.begin()) {
    for (auto& event : next->second) waiting_.push_back(std::move(event));
    queued = queued || !next->second.empty();
    parked_.erase(next);
    ++head_;
  }
  return queued && !closed_ && !std::exchange(running_, true);
}

void EventPublisher::drain() {
  for (;;) {
    std::deque<TaskEvent> events;
    {
      std::lock_guard lock(mutex_);
      if (waiting_.empty()) {
        running_ = false;
        room_.notify_all();
        return;
      }
      events.swap(waiting_);
    }
    room_.notify_all();
    auto bus = context_.services().get<bus::Bus>();
    if (!bus.ok()) continue;  // no bus: the durable event log still has them
    for (const auto& [id, body] : events) {
      for (const std::string& topic : {std::string("tasks.") + id, std::string("tasks")}) {
        auto published = (*bus)->publish(topic, body);
        if (!published.ok())
          context_.log().warn("event of task " + id + " not published on " + topic + ": " +
                              published.status().message() +
                              plugin_common::traceLogField(plugin_common::traceparentIn(body)));
      }
    }
  }
}

bool EventPublisher::idle() {
  std::lock_guard lock(mutex_);
  return !running_;
}

void EventPublisher::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  room_.notify_all();
}

}  // namespace hive::task_manager
