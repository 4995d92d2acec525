// A write to a pipe or socket whose reader is gone raises SIGPIPE in the
// writing thread, and its default action ends the process. Libraries that
// write with write(2) (a child's stdin, hiredis's blocking client) cannot ask
// for MSG_NOSIGNAL: while one of these lives, SIGPIPE is blocked in this
// thread, and one raised meanwhile is swallowed when it ends, whatever the
// host does with SIGPIPE. Header-only, shared by in-tree plugins (not SDK).
#pragma once

#include <pthread.h>

#include <csignal>
#include <ctime>

namespace hive::plugin_common {

class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &previous_);
  }
  ~SigpipeBlock() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    struct timespec zero {};
    while (sigtimedwait(&pipe, nullptr, &zero) == SIGPIPE) {
    }
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t previous_;
};

}  // namespace hive::plugin_common
