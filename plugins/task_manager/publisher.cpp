#include "publisher.hpp"

#include "hive/services/bus.hpp"

namespace hive::task_manager {

// At most this many events wait for the bus.
constexpr std::size_t kPublishBacklog = 65536;

void EventPublisher::publish(const std::vector<TaskEvent>& events) {
  if (events.empty()) return;
  {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [&] { return waiting_.size() < kPublishBacklog || closed_; });
    if (closed_) return;
    waiting_.insert(waiting_.end(), events.begin(), events.end());
    if (std::exchange(running_, true)) return;
  }
  context_.blocking().post([self = shared_from_this()] { self->drain(); });
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
                              published.status().message());
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
