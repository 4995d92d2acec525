#include "event_dispatcher.hpp"

#include "plugin_common/thread_name.hpp"

namespace hive::communication_engine {

EventDispatcher::EventDispatcher(std::size_t queueBound, Logger& log, Counter& callbackErrors)
    : queueBound_(queueBound),
      log_(log),
      callbackErrors_(callbackErrors),
      subscribers_(std::make_unique<Subscribers>()) {
  reportErrorsOf(*subscribers_);
}

void EventDispatcher::shareAcrossGenerations(ServiceRegistry& services) {
  subscribers_ = std::make_unique<Subscribers>(services, "bus.events");
  reportErrorsOf(*subscribers_);
}

void EventDispatcher::reportErrorsOf(Subscribers& subscribers) {
  // A subscriber's bug must not stop delivery to everyone else.
  subscribers.onError([this](const std::string& pattern, const std::string& what) {
    callbackErrors_.increment();
    log_.warn("subscriber callback for '" + pattern + "' threw: " + what);
  });
}

EventDispatcher::~EventDispatcher() { stop(); }

void EventDispatcher::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    plugin_common::nameThisThread("bus-dispatch");
    run();
  });
}

void EventDispatcher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

std::unique_ptr<Subscription> EventDispatcher::subscribe(std::string pattern,
                                                         std::function<void(const bus::Event&)> callback) {
  return subscribers_->subscribe(std::move(callback), std::move(pattern));
}

bool EventDispatcher::enqueue(bus::Event event) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= queueBound_) return false;
    queue_.push_back(std::move(event));
  }
  wake_.notify_one();
  return true;
}

bool EventDispatcher::hasRoom() const {
  std::lock_guard lock(mutex_);
  return !stopping_ && queue_.size() < queueBound_;
}

std::size_t EventDispatcher::subscriptionCount() const { return subscribers_->size(); }

void EventDispatcher::run() {
  for (;;) {
    bus::Event event;
    {
      std::unique_lock lock(mutex_);
      if (heartbeat_ && queue_.empty()) heartbeat_->idle();
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) {
        // Stopped is not stalled, even if this object outlives its thread.
        if (heartbeat_) heartbeat_->idle();
        return;
      }
      if (heartbeat_) heartbeat_->beat();
      event = std::move(queue_.front());
      queue_.pop_front();
    }
    subscribers_->fireWhere(
        [&](const std::string& pattern) { return bus::topicMatches(pattern, event.topic); }, event);
    if (heartbeat_) heartbeat_->beat();
  }
}

}  // namespace hive::communication_engine
