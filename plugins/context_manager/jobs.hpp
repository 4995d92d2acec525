// Work this plugin posts to the blocking executor, counted (plugin_common's
// BackgroundJobs), so that stop() waits for the last one and drained() knows
// when none is left.
#pragma once

#include <functional>
#include <utility>

#include "hive/executor.hpp"
#include "plugin_common/background_jobs.hpp"

namespace hive::context_manager {

class Jobs {
 public:
  explicit Jobs(Executor& executor) : executor_(executor) {}
  ~Jobs() { closeAndWait(); }

  // False once closing: the job was not posted.
  bool post(std::function<void()> job) { return jobs_.post(executor_, std::move(job)); }
  void refuse() { jobs_.refuse(); }
  bool idle() const { return jobs_.idle(); }
  void closeAndWait() { jobs_.stopAndWait(); }

 private:
  Executor& executor_;
  plugin_common::BackgroundJobs jobs_;
};

}  // namespace hive::context_manager
