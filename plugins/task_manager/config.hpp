// task_manager's settings: its YAML section as a typed struct, validated once.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>

#include "concurrency.hpp"
#include "hive/config.hpp"
#include "task_model.hpp"

namespace hive::task_manager {

// Which of task_manager's store transactions get a span while spans are
// exported (hive.tracing/1): none, the creation of a task whose submitting
// request carried a sampled traceparent (inside that request's span), or
// every one that changes a sampled task (those of traces task_manager started too).
enum class TransactionSpans { kNone, kCreated, kAll };

struct Options {
  Limits limits;
  std::chrono::milliseconds retryBase{1000};
  std::chrono::milliseconds retryMax{60000};
  std::chrono::milliseconds aging{30000};  // a waiting task gains one priority level per period
  std::chrono::milliseconds claimLease{30000};
  std::chrono::milliseconds sweepPeriod{1000};
  // Finished tasks are deleted this long after they finished.
  std::chrono::milliseconds retention{std::chrono::hours(24 * 7)};
  // The task event log keeps events this long: a task's record outlives its
  // events, which are for clients catching up (GET /api/v2/tasks/events).
  std::chrono::milliseconds eventRetention{std::chrono::hours(24)};
  std::map<std::string, std::chrono::milliseconds> retentionByType;  // task type → its own retention
  std::size_t retentionBatch = 100;                                  // tasks deleted per transaction
  std::chrono::milliseconds retentionPeriod{10000};                  // how often the sweep looks
  TransactionSpans transactionSpans = TransactionSpans::kCreated;
  ConcurrencyLimits concurrency;  // tasks assigned or running at once, by tenant and capability
};

// Reads the section; every problem goes to `diagnostics` with its location
// (file:line:col), and the defaults stand for the values refused.
Options readOptions(const ConfigNode& section, Diagnostics& diagnostics);

}  // namespace hive::task_manager
