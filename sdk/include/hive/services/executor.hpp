// hive.executor/1 — runs one task of a process agent as a sandboxed child
// process. Provided by task_execution_engine; used by the orchestrator.
//
// The process gets the task as JSON on stdin, runs in a work directory of its
// own under the agent's workspace, and answers on stdout (the last line that
// is a JSON object is its result). It runs in a sandbox (bubblewrap when the
// host has it, rlimits always), with a clean environment, a timeout that kills
// its whole process tree, and caps on what it may print.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hive/services.hpp"
#include "hive/status.hpp"

namespace hive::exec {

// A process agent as configured in task_execution_engine's section.
struct ProcessAgent {
  std::string name;
  std::vector<std::string> capabilities;
  std::uint32_t maxConcurrency = 1;
};

struct Job {
  std::string agent;                     // a ProcessAgent's name
  std::string taskId;                    // [A-Za-z0-9_-]{1,64}: names the work directory and git branch
  std::string input;                     // written to the process's stdin, then closed
  std::chrono::milliseconds timeout{0};  // 0: the agent's configured timeout
};

enum class OutcomeKind {
  kSucceeded,      // exit status 0
  kFailed,         // non-zero exit status
  kCrashed,        // killed by a signal it did not ask for (SIGSEGV, ...)
  kTimedOut,       // the timeout passed: the whole tree was killed
  kCancelled,      // cancel() was called: the whole tree was killed
  kStartFailed,    // could not start (no such command, no sandbox, no workspace)
  kLimitExceeded,  // killed for going over a limit (CPU time, file size)
};

struct Outcome {
  OutcomeKind kind = OutcomeKind::kStartFailed;
  int exitCode = -1;   // when it exited
  int signal = 0;      // when a signal ended it
  std::string result;  // JSON: the last JSON-object line of stdout; empty when none
  std::string output;  // stdout, at most the agent's output cap
  std::string errors;  // stderr, at most the cap
  bool outputTruncated = false;
  std::string workDirectory;
  std::chrono::milliseconds duration{0};
  std::string reason;  // one line: why it did not succeed
};

// A running job. Destroying the handle does not stop the job.
class Execution {
 public:
  virtual ~Execution() = default;
  // Kills the job's whole process tree; `done` then reports kCancelled. Idempotent.
  virtual void cancel() = 0;
  virtual std::int64_t pid() const = 0;
};

class ProcessRunner : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.executor", 1};

  virtual std::vector<ProcessAgent> agents() const = 0;
  // "bubblewrap" or "rlimits" (weaker: no namespaces), as detected at start.
  virtual std::string sandbox() const = 0;
  // Starts `job` and returns at once; `done` runs once, on a provider thread,
  // when it has ended. kResourceExhausted when the agent is at its concurrency
  // limit; kNotFound for an unknown agent; kInvalidArgument for a bad task id.
  virtual Result<std::shared_ptr<Execution>> run(Job job, std::function<void(Outcome)> done) = 0;
};

}  // namespace hive::exec
