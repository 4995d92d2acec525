// The store queues tasks wait in, one per capability set, as this node knows
// them: learnt from its own submissions and from the store's task_queues
// collection (written by every node), refreshed at most every two seconds. For
// each it holds the store's wake-up (onClaimable), which it follows across
// swaps of the store provider: the wake-ups are the store's objects, dropped
// while the old provider is still loaded and taken again from the new one.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "clock.hpp"
#include "hive/follower.hpp"
#include "hive/services/store.hpp"
#include "unit_of_work.hpp"

namespace hive::task_manager {

enum class Refresh { kIfStale, kNow };

class QueueRegistry {
 public:
  // `wake` is called when a queue has claimable work.
  QueueRegistry(ServiceRegistry& services, UnitOfWork& work, const Clock& clock, std::function<void()> wake);
  ~QueueRegistry();

  // Loads the known queues and starts following the store's wake-ups.
  void open();
  void close();

  bool known(const std::string& queue);
  // Learns `queue` (it now exists in the store) and subscribes to its wake-ups.
  void remember(const std::string& queue, const std::vector<std::string>& capabilities);
  // Reads the queues other nodes wrote; kIfStale does so at most every two seconds.
  void refresh(Refresh when);
  // Queue name → the capabilities its tasks need.
  std::map<std::string, std::vector<std::string>> all();

 private:
  class Wakeups;

  const Clock& clock_;
  UnitOfWork& work_;
  std::function<void()> wake_;
  std::mutex mutex_;
  std::map<std::string, std::vector<std::string>> queues_;
  std::int64_t refreshed_ = 0;
  Wakeups* wakeups_ = nullptr;  // those of the store provider followed now, if any
  ServiceFollower<store::Store, std::unique_ptr<Wakeups>> follower_;
};

}  // namespace hive::task_manager
