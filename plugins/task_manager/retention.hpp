// Retention: finished tasks (with their idempotency keys and dependency
// edges) are deleted `retention` after they finished (per task type when
// configured), a batch per transaction so that writers wait for one batch at
// most; the event log keeps `retention.events` (24 h by default).
#pragma once

#include <chrono>
#include <functional>
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
  // Deletes the finished ones of `ids` at once, whatever their age (erasure
  // of a project), in one transaction; how many went.
  Result<std::size_t> erase(const std::vector<std::string>& ids);

 private:
  std::chrono::milliseconds retentionFor(const std::string& type) const;
  // The finished tasks of `status` past their retention, a batch at a time.
  std::size_t expire(store::Store& store, TaskStatus status, std::int64_t now);
  // Deletes `ids` (finished, past retention) in one transaction; how many went.
  std::size_t remove(const std::vector<std::string>& ids, std::int64_t now);
  // Deletes the ones of `ids` that are `eligible` as read in the transaction.
  std::size_t removeWhere(const std::vector<std::string>& ids,
                          const std::function<bool(const Task&)>& eligible);
  Status removeWhere(const std::vector<std::string>& ids, const std::function<bool(const Task&)>& eligible,
                     std::size_t& removed);
  void trimEvents(store::Store& store, std::int64_t now);

  UnitOfWork& work_;
  const Options& options_;
  const Clock& clock_;
  Logger& log_;
};

}  // namespace hive::task_manager
