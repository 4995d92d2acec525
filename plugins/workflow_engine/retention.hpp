// Deletes finished workflow runs once they are older than the retention
// period, a small batch per pass, so that a store holding months of runs is
// emptied over many passes without one long transaction or a burst of I/O.
//
// A pass walks the runs of each final status (succeeded, failed, cancelled)
// from where the previous pass stopped, and deletes, each in its own unit of
// work, a run finished before now - retention together with its
// Idempotency-Key (after which the key may start a new run). A finished child
// run whose parent still runs is kept: the parent may not have read it yet.
// The event stream `workflows` is trimmed to the same age.
//
// Time comes from the injected clock. Blocking: call on the blocking executor.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <string>

#include "hive/context.hpp"
#include "hive/services.hpp"
#include "hive/services/store.hpp"
#include "plugin_common/clock.hpp"

namespace hive::workflow_engine {

struct RetentionOptions {
  std::chrono::milliseconds keep{std::chrono::hours(24 * 7)};
  std::size_t batch = 100;                                    // runs deleted per pass, at most
  std::chrono::milliseconds period{std::chrono::minutes(1)};  // between passes
};

class RunRetention {
 public:
  RunRetention(ServiceHandle<store::Store> store, const plugin_common::Clock& clock, Logger& log,
               RetentionOptions options)
      : store_(std::move(store)), clock_(clock), log_(log), options_(options) {}

  // One pass; returns how many runs it deleted.
  std::size_t pass();

 private:
  ServiceHandle<store::Store> store_;
  const plugin_common::Clock& clock_;
  Logger& log_;
  RetentionOptions options_;
  std::array<std::string, 3> cursors_;  // per final status: where the last pass stopped
};

}  // namespace hive::workflow_engine
