#include "publisher.hpp"

#include <algorithm>
#include <optional>

#include "hive/services/bus.hpp"
#include "hive/services/bus_batch.hpp"
#include "plugin_common/trace_context.hpp"

namespace hive::task_manager {

// At most this many events wait for the bus.
constexpr std::size_t kPublishBacklog = 65536;
// Events handed to hive.bus_batch/1 at once (each is published on two topics).
constexpr std::size_t kPublishBatch = 256;

namespace {

// The bus's hive.bus_batch/1 (same provider), when it has one.
std::optional<ServiceLease> batchOf(ServiceRegistry& services, const std::string& busProvider) {
  for (auto& lease : services.lookup(bus::BatchPublisher::kServiceId))
    if (lease.provider == busProvider) return std::move(lease);
  return std::nullopt;
}

}  // namespace

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
    auto unpublished = [&](const TaskEvent& event, const std::string& topic, const Status& why) {
      context_.log().warn("event of task " + event.taskId + " not published on " + topic + ": " +
                          why.message() +
                          plugin_common::traceLogField(plugin_common::traceparentIn(event.body)));
    };
    // Handed over together when the bus can: one publish after another waits
    // for the bus each time (on Redis a round trip), and under load the events
    // fell seconds behind their commits.
    if (auto batch = batchOf(context_.services(), bus->provider())) {
      auto& publisher = static_cast<bus::BatchPublisher&>(*batch->service);
      for (std::size_t first = 0; first < events.size(); first += kPublishBatch) {
        std::size_t end = std::min(events.size(), first + kPublishBatch);
        std::vector<bus::Outgoing> outgoing;
        outgoing.reserve(2 * (end - first));
        for (std::size_t i = first; i < end; ++i) {
          outgoing.push_back({"tasks." + events[i].taskId, events[i].body});
          outgoing.push_back({"tasks", events[i].body});
        }
        auto results = publisher.publishAll(outgoing);
        for (std::size_t k = 0; k < results.size() && k < outgoing.size(); ++k)
          if (!results[k].ok()) unpublished(events[first + k / 2], outgoing[k].topic, results[k].status());
      }
      continue;
    }
    for (const auto& event : events)
      for (const std::string& topic : {std::string("tasks.") + event.taskId, std::string("tasks")})
        if (auto published = (*bus)->publish(topic, event.body); !published.ok())
          unpublished(event, topic, published.status());
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
