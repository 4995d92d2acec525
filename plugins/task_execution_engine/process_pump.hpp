// Drives a started ProcessTree to its end on the calling thread: writes the
// input, reads stdout/stderr (capped, never blocking the child), reads the
// supervisor's records, and kills the tree on timeout or cancellation.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "output_capture.hpp"
#include "process_tree.hpp"

namespace hive::task_execution_engine {

enum class Ending {
  kExited,      // the command exited or was killed by a signal: see waitStatus
  kTimedOut,    // the deadline passed; the tree was killed
  kCancelled,   // cancelled; the tree was killed
  kExecFailed,  // the command never ran: see execErrno
  kLost,        // the supervisor died without reporting (killed from outside)
  kOverLimit,   // checkLimits() answered a reason; the tree was killed
};

struct PumpOptions {
  std::string_view input;
  std::size_t outputCap = 1 << 20;
  std::size_t maxResultBytes = 1 << 20;
  std::chrono::steady_clock::time_point deadline;
  // Readable when someone wants the job cancelled; -1 for none.
  int wakeFd = -1;
  std::function<bool()> cancelRequested;
  std::function<void(pid_t)> started;
  // Called every checkInterval while the job runs; a non-empty answer (why)
  // kills the tree and ends it as kOverLimit.
  std::function<std::string()> checkLimits;
  std::chrono::milliseconds checkInterval{500};
  // How long the supervisor gets to kill the tree before it is killed itself.
  std::chrono::milliseconds killGrace{10'000};
};

struct PumpResult {
  Ending ending = Ending::kLost;
  int waitStatus = 0;
  int execErrno = 0;
  pid_t pid = 0;
  OutputCapture output;
  OutputCapture errors;
  // The tree was killed (timeout or cancel), but the command had already exited.
  bool exitedBeforeKill = false;
  std::string overLimit;  // checkLimits()'s answer when it ended the job
};

PumpResult pump(ProcessTree& tree, const PumpOptions& options);

}  // namespace hive::task_execution_engine
