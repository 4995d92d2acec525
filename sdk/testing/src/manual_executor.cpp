#include "manual_executor.hpp"

#include <algorithm>
#include <utility>

namespace hive::testing::detail {

void ManualExecutor::post(std::function<void()> work) {
  std::lock_guard lock(mutex_);
  queue_.push_back(std::move(work));
}

bool ManualExecutor::runOne() {
  std::function<void()> work;
  {
    std::lock_guard lock(mutex_);
    if (queue_.empty()) return false;
    work = std::move(queue_.front());
    queue_.pop_front();
  }
  // Outside the lock: the work may post more work.
  if (work) work();
  return true;
}

void ManualExecutor::clear() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard lock(mutex_);
    dropped.swap(queue_);
  }
}

class ManualTimers::Handle final : public Timer {
 public:
  Handle(std::weak_ptr<Shared> shared, std::uint64_t id) : shared_(std::move(shared)), id_(id) {}
  ~Handle() override { cancel(); }

  void cancel() override {
    auto shared = shared_.lock();
    if (!shared) return;
    std::shared_ptr<std::function<void()>> dropped;  // destroyed outside the lock
    std::lock_guard lock(shared->mutex);
    auto it = std::find_if(shared->entries.begin(), shared->entries.end(),
                           [&](const Entry& e) { return e.id == id_; });
    if (it == shared->entries.end()) return;
    dropped = std::move(it->callback);
    shared->entries.erase(it);
  }

 private:
  std::weak_ptr<Shared> shared_;
  std::uint64_t id_;
};

ManualTimers::ManualTimers() : shared_(std::make_shared<Shared>()) {}

std::unique_ptr<Timer> ManualTimers::after(std::chrono::milliseconds delay, std::function<void()> callback) {
  return arm(std::max(delay, std::chrono::milliseconds(0)), std::chrono::milliseconds(0),
             std::move(callback));
}

std::unique_ptr<Timer> ManualTimers::every(std::chrono::milliseconds period, std::function<void()> callback) {
  // A zero period would fire forever within one advanceTime(); one millisecond is the
  // finest the clock resolves.
  period = std::max(period, std::chrono::milliseconds(1));
  return arm(period, period, std::move(callback));
}

std::unique_ptr<Timer> ManualTimers::arm(std::chrono::milliseconds delay, std::chrono::milliseconds period,
                                         std::function<void()> callback) {
  std::lock_guard lock(shared_->mutex);
  Entry entry;
  entry.id = shared_->nextId++;
  entry.due = shared_->now + delay;
  entry.order = shared_->nextOrder++;
  entry.period = period;
  entry.callback = std::make_shared<std::function<void()>>(std::move(callback));
  shared_->entries.push_back(std::move(entry));
  return std::make_unique<Handle>(shared_, shared_->entries.back().id);
}

bool ManualTimers::fireNext(std::chrono::milliseconds until) {
  std::shared_ptr<std::function<void()>> callback;
  {
    std::lock_guard lock(shared_->mutex);
    auto& entries = shared_->entries;
    auto next = std::min_element(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return a.due != b.due ? a.due < b.due : a.order < b.order;
    });
    if (next == entries.end() || next->due > until) return false;
    shared_->now = next->due;
    callback = next->callback;
    if (next->period.count() > 0) {
      next->due += next->period;
      next->order = shared_->nextOrder++;
    } else {
      entries.erase(next);
    }
  }
  if (*callback) (*callback)();
  return true;
}

void ManualTimers::setNow(std::chrono::milliseconds now) {
  std::lock_guard lock(shared_->mutex);
  shared_->now = std::max(shared_->now, now);
}

std::chrono::milliseconds ManualTimers::now() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->now;
}

void ManualTimers::clear() {
  std::vector<Entry> dropped;
  std::lock_guard lock(shared_->mutex);
  dropped.swap(shared_->entries);
}

}  // namespace hive::testing::detail
