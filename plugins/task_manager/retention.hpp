// Retention: finished tasks (with their idempotency keys and dependency
// edges) are deleted `retention` after they finished (per task type when
// configured), a batch per transaction so that writers wait for one batch at
// most; the event log is trimmed to the longest retention.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "clock.hpp"
#include "config.hpp"
#include "hive/log.hpp"
#include "unit_of_work.hpp"

namespace hive::task_manager {

class Retention {
 public:
  Retention(UnitOfWork& work, const Options& options, const Clock& clock, Logger& log)
      : work_(work), options_(options), clock_(clock), log_(log) {}

  // Deletes what is past its retention; returns how many tasks went.
  std::size_t expire();

 private:
  std::chrono::milliseconds retentionFor(const std::string& type) const;
  // The finished tasks of `status` past their retention, a batch at a time.
  std::size_t expire(store::Store& store, TaskStatus status, std::int64_t now);
  // Deletes `ids` (finished, past retention) in one transaction; how many went.
  std::size_t remove(const std::vector<std::string>& ids, std::int64_t now);
  void trimEvents(store::Store& store, std::int64_t now);

  UnitOfWork& work_;
  const Options& options_;
  const Clock& clock_;
  Logger& log_;
};

}  // namespace hive::task_manager
