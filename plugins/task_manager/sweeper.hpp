// The sweep, every sweep_period on a blocking thread: attempts whose lease ran
// out (timed out: retried, or dead after the last attempt), waiting tasks
// whose dependencies settled while nobody looked (every 5 s), aging (a task
// that waits long gains priority, so low priorities cannot starve) and
// retention (every retention.period). One sweep at a time.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "clock.hpp"
#include "config.hpp"
#include "dependencies.hpp"
#include "hive/log.hpp"
#include "queue_registry.hpp"
#include "retention.hpp"
#include "unit_of_work.hpp"

namespace hive::task_manager {

class Sweeper {
 public:
  Sweeper(UnitOfWork& work, QueueRegistry& queues, Dependencies& dependencies, Retention& retention,
          const Options& options, const Clock& clock, Logger& log, std::function<void()> wake)
      : work_(work),
        queues_(queues),
        dependencies_(dependencies),
        retention_(retention),
        options_(options),
        clock_(clock),
        log_(log),
        wake_(std::move(wake)) {}

  void sweep();

 private:
  void expireLeases(store::Store& store);
  // The attempt of `item` (its lease released by the store) timed out.
  void timedOut(const std::string& queue, const store::QueueItem& item);
  void releaseWaiting(store::Store& store);
  void age(store::Store& store);
  // The due tasks of one page in one unit of work (one commit for the page:
  // a backlog of N waiting tasks costs N / kTaskPage commits per level, not N);
  // each alone when the page's unit fails (a task changed under it).
  void agePage(const std::vector<std::string>& taskIds, std::int64_t now);
  Status ageOne(store::Transaction& tx, Outbox& outbox, const std::string& taskId, std::int64_t now);

  UnitOfWork& work_;
  QueueRegistry& queues_;
  Dependencies& dependencies_;
  Retention& retention_;
  const Options& options_;
  const Clock& clock_;
  Logger& log_;
  std::function<void()> wake_;
  std::atomic<bool> sweeping_{false};
  Period waitingCheck_, aging_, expiry_;
};

}  // namespace hive::task_manager
