#include "event_dispatcher.hpp"

#include <atomic>
#include <exception>

namespace hive::communication_engine {

struct EventDispatcher::Registration {
  std::string pattern;
  std::function<void(const bus::Event&)> callback;
  // Held while the callback runs, so that destroying the subscription waits for it.
  std::mutex running;
  std::atomic<bool> active{true};
  std::atomic<std::thread::id> runningOn{};
};

struct EventDispatcher::Registry {
  std::mutex mutex;
  std::vector<std::shared_ptr<Registration>> registrations;
};

namespace {

class DispatcherSubscription final : public Subscription {
 public:
  DispatcherSubscription(std::shared_ptr<EventDispatcher::Registry> registry,
                         std::shared_ptr<EventDispatcher::Registration> registration)
      : registry_(std::move(registry)), registration_(std::move(registration)) {}

  ~DispatcherSubscription() override {
    {
      std::lock_guard lock(registry_->mutex);
      auto& all = registry_->registrations;
      std::erase(all, registration_);
    }
    if (registration_->runningOn.load() == std::this_thread::get_id()) {
      // Destroyed from inside its own callback: the dispatcher drops the
      // callback when it returns.
      registration_->active = false;
      return;
    }
    std::lock_guard wait(registration_->running);
    registration_->active = false;
    // The callback's code and captures belong to the subscriber, whose library
    // may be unloaded right after this: they go now, not whenever the
    // dispatcher lets go of the registration.
    registration_->callback = nullptr;
  }

 private:
  std::shared_ptr<EventDispatcher::Registry> registry_;
  std::shared_ptr<EventDispatcher::Registration> registration_;
};

}  // namespace

EventDispatcher::EventDispatcher(std::size_t queueBound, Logger& log, Counter& callbackErrors)
    : queueBound_(queueBound),
      log_(log),
      callbackErrors_(callbackErrors),
      registry_(std::make_shared<Registry>()) {}

EventDispatcher::~EventDispatcher() { stop(); }

void EventDispatcher::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
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
  auto registration = std::make_shared<Registration>();
  registration->pattern = std::move(pattern);
  registration->callback = std::move(callback);
  {
    std::lock_guard lock(registry_->mutex);
    registry_->registrations.push_back(registration);
  }
  return std::make_unique<DispatcherSubscription>(registry_, std::move(registration));
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

std::size_t EventDispatcher::subscriptionCount() const {
  std::lock_guard lock(registry_->mutex);
  return registry_->registrations.size();
}

void EventDispatcher::run() {
  std::vector<std::shared_ptr<Registration>> targets;
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
    {
      std::lock_guard lock(registry_->mutex);
      for (const auto& r : registry_->registrations)
        if (bus::topicMatches(r->pattern, event.topic)) targets.push_back(r);
    }
    for (const auto& target : targets) {
      std::lock_guard running(target->running);
      if (!target->active) {
        target->callback = nullptr;
        continue;
      }
      target->runningOn = std::this_thread::get_id();
      try {
        target->callback(event);
      } catch (const std::exception& error) {
        // A subscriber's bug must not stop delivery to everyone else.
        callbackErrors_.increment();
        log_.warn("subscriber callback for '" + target->pattern + "' threw: " + error.what());
      } catch (...) {
        callbackErrors_.increment();
        log_.warn("subscriber callback for '" + target->pattern + "' threw a non-exception");
      }
      target->runningOn = std::thread::id();
      if (!target->active) target->callback = nullptr;  // unsubscribed from inside the callback
      if (heartbeat_) heartbeat_->beat();
    }
    targets.clear();
  }
}

}  // namespace hive::communication_engine
