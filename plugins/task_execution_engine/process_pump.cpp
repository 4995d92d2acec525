#include "process_pump.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "plugin_common/sigpipe_block.hpp"

namespace hive::task_execution_engine {
namespace {

using Clock = std::chrono::steady_clock;

using plugin_common::SigpipeBlock;

int millisecondsUntil(Clock::time_point when) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(when - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 60'000 ? 60'000 : static_cast<int>(left) + 1;
}

}  // namespace

PumpResult pump(ProcessTree& tree, const PumpOptions& options) {
  SigpipeBlock sigpipe;
  PumpResult result{.output = OutputCapture(options.outputCap, options.maxResultBytes),
                    .errors = OutputCapture(options.outputCap, 0)};
  std::size_t written = 0;
  if (options.input.empty()) tree.closeStdin();

  bool exited = false;
  bool execFailed = false;
  bool killing = false;
  Clock::time_point killDeadline{};
  Ending killReason = Ending::kLost;

  char recordBuffer[sizeof(SupervisorRecord)];
  std::size_t recordFill = 0;
  char buffer[64 * 1024];

  auto startKilling = [&](Ending reason) {
    if (killing) return;
    killing = true;
    killReason = reason;
    killDeadline = Clock::now() + options.killGrace;
    tree.terminate();
  };

  Clock::time_point nextCheck = Clock::now() + options.checkInterval;
  while (tree.stdoutFd() >= 0 || tree.stderrFd() >= 0 || tree.statusFd() >= 0) {
    if (!killing && options.cancelRequested && options.cancelRequested()) startKilling(Ending::kCancelled);
    if (!killing && Clock::now() >= options.deadline) startKilling(Ending::kTimedOut);
    if (!killing && options.checkLimits && Clock::now() >= nextCheck) {
      result.overLimit = options.checkLimits();
      if (!result.overLimit.empty()) startKilling(Ending::kOverLimit);
      nextCheck = Clock::now() + options.checkInterval;
    }
    if (killing && Clock::now() >= killDeadline) {
      // The supervisor did not finish in time: kill it and the command's group, and stop waiting.
      tree.forceKill();
      if (result.pid > 0) kill(-result.pid, SIGKILL);
      break;
    }

    pollfd fds[5];
    int count = 0;
    auto add = [&](int fd, short events) {
      if (fd >= 0) fds[count++] = {fd, events, 0};
    };
    add(tree.stdinFd(), POLLOUT);
    add(tree.stdoutFd(), POLLIN);
    add(tree.stderrFd(), POLLIN);
    add(tree.statusFd(), POLLIN);
    if (!killing) add(options.wakeFd, POLLIN);
    int timeout = millisecondsUntil(killing ? killDeadline : options.deadline);
    if (!killing && options.checkLimits) timeout = std::min(timeout, millisecondsUntil(nextCheck));
    int ready = poll(fds, static_cast<nfds_t>(count), timeout);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;

    for (int i = 0; i < count; ++i) {
      if (fds[i].revents == 0) continue;
      int fd = fds[i].fd;
      if (fd == options.wakeFd) {
        continue;  // cancelRequested() is checked at the top of the loop
      }
      if (fd == tree.stdinFd()) {
        ssize_t n = write(fd, options.input.data() + written, options.input.size() - written);
        if (n > 0) written += static_cast<std::size_t>(n);
        if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == options.input.size() ||
            (fds[i].revents & (POLLERR | POLLHUP)) != 0)
          tree.closeStdin();  // done, or the child closed its stdin (EPIPE): the rest is dropped
        continue;
      }
      if (fd == tree.statusFd()) {
        ssize_t n = read(fd, recordBuffer + recordFill, sizeof recordBuffer - recordFill);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n <= 0) {
          tree.closeStatus();
          continue;
        }
        recordFill += static_cast<std::size_t>(n);
        if (recordFill < sizeof recordBuffer) continue;
        recordFill = 0;
        SupervisorRecord record;
        std::memcpy(&record, recordBuffer, sizeof record);
        switch (record.event) {
          case SupervisorEvent::kStarted:
            result.pid = record.value;
            if (options.started) options.started(result.pid);
            break;
          case SupervisorEvent::kExecFailed:
            execFailed = true;
            result.execErrno = record.value;
            break;
          case SupervisorEvent::kExited:
            exited = true;
            result.waitStatus = record.value;
            if (!killing) result.exitedBeforeKill = true;
            break;
        }
        continue;
      }
      ssize_t n = read(fd, buffer, sizeof buffer);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) {
        if (fd == tree.stdoutFd()) tree.closeStdout();
        if (fd == tree.stderrFd()) tree.closeStderr();
        continue;
      }
      (fd == tree.stdoutFd() ? result.output : result.errors).append(std::string_view(buffer, n));
    }
  }
  tree.closeStdin();
  tree.reap();
  result.output.finish();
  result.errors.finish();

  if (execFailed) {
    result.ending = Ending::kExecFailed;
  } else if (killing && !result.exitedBeforeKill) {
    result.ending = killReason;
  } else if (exited) {
    result.ending = Ending::kExited;
  } else {
    result.ending = killing ? killReason : Ending::kLost;
  }
  return result;
}

}  // namespace hive::task_execution_engine
