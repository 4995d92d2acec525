#include "queue_registry.hpp"

#include "records.hpp"

namespace hive::task_manager {

// The wake-ups taken from one store provider. It registers itself as the
// registry's current set, so that a queue learnt later subscribes with the
// same provider, and unregisters before its subscriptions go.
class QueueRegistry::Wakeups {
 public:
  Wakeups(QueueRegistry& registry, store::Store& store) : registry_(registry), store_(store) {
    std::lock_guard lock(registry_.mutex_);
    for (const auto& [queue, capabilities] : registry_.queues_) subscribeLocked(queue);
    registry_.wakeups_ = this;
  }
  ~Wakeups() {
    std::vector<std::unique_ptr<Subscription>> subscriptions;
    {
      std::lock_guard lock(registry_.mutex_);
      registry_.wakeups_ = nullptr;
      subscriptions.swap(subscriptions_);
    }
    subscriptions.clear();  // outside the lock: a wake-up may be running
  }
  void subscribeLocked(const std::string& queue) {
    subscriptions_.push_back(store_.onClaimable(queue, registry_.wake_));
  }

 private:
  QueueRegistry& registry_;
  store::Store& store_;
  std::vector<std::unique_ptr<Subscription>> subscriptions_;
};

QueueRegistry::QueueRegistry(ServiceRegistry& services, UnitOfWork& work, const Clock& clock,
                             std::function<void()> wake)
    : clock_(clock),
      work_(work),
      wake_(std::move(wake)),
      follower_(services, [this](store::Store& store) { return std::make_unique<Wakeups>(*this, store); }) {}

QueueRegistry::~QueueRegistry() { close(); }

void QueueRegistry::open() {
  refresh(Refresh::kNow);
  (void)follower_.start();  // no store now: wake-ups come with the next one
}

void QueueRegistry::close() { follower_.stop(); }

bool QueueRegistry::known(const std::string& queue) {
  std::lock_guard lock(mutex_);
  return queues_.count(queue) != 0;
}

void QueueRegistry::remember(const std::string& queue, const std::vector<std::string>& capabilities) {
  std::lock_guard lock(mutex_);
  if (!queues_.emplace(queue, capabilities).second) return;
  if (wakeups_ != nullptr) wakeups_->subscribeLocked(queue);
}

void QueueRegistry::refresh(Refresh when) {
  {
    std::lock_guard lock(mutex_);
    std::int64_t now = clock_.nowMs();
    if (when == Refresh::kIfStale && now >= refreshed_ && now - refreshed_ < 2000) return;
    refreshed_ = now;
  }
  auto store = work_.store();
  if (!store.ok()) return;
  std::string cursor;
  do {
    auto page = (*store)->list({kQueues, {}, 1000, cursor});
    if (!page.ok()) return;
    for (const auto& d : page->items) {
      // The body is the capability key: "a,b".
      std::vector<std::string> capabilities;
      const std::string& key = d.body;
      for (std::size_t at = 0, next; at <= key.size(); at = next + 1) {
        next = key.find(',', at);
        if (next == std::string::npos) next = key.size();
        if (next > at) capabilities.push_back(key.substr(at, next - at));
      }
      remember(d.id, capabilities);
    }
    cursor = page->nextCursor;
  } while (!cursor.empty());
}

std::map<std::string, std::vector<std::string>> QueueRegistry::all() {
  std::lock_guard lock(mutex_);
  return queues_;
}

}  // namespace hive::task_manager
