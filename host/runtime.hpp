// The kernel's threads: an I/O pool running the io_context that plugins share, a
// bounded pool for blocking work, and timers on the io_context. Asio stays out of
// this header; code that needs the io_context itself includes Asio on its own.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

#include "hive/executor.hpp"
#include "hive/log.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace hive::host {

// Lifecycle: construct → start() → ... → stop() (or destruction). Every method may be
// called from any thread except where noted. Exceptions escaping posted work, timer
// callbacks or raw Asio handlers are logged at error level to `kernelLog` and the
// thread carries on.
class Runtime {
 public:
  // Thread counts below 1 are raised to 1 (and logged). The constructor already
  // instantiates the Asio services the kernel lends, so that none is first created —
  // and owned, destructor included — by a plugin that is later unloaded.
  Runtime(int ioThreads, int blockingThreads, hive::Logger& kernelLog);
  // Stops if running. Must not run on one of the runtime's own threads.
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Spawns the threads; I/O threads run the io_context with a work guard. Work posted
  // before start() runs once it is called. Calling start() again while running does nothing.
  void start();
  // Cancels every timer (waiting for callbacks that are running), then stops the
  // io_context and joins every thread. Blocking work still queued is discarded (and the
  // number logged); handlers still queued in the io_context stay there until start()
  // is called again or the Runtime is destroyed — stop plugins before the runtime.
  // Idempotent. Refused (and logged) when called from a runtime thread, which cannot
  // join itself.
  void stop();

  boost::asio::io_context& ioContext();
  hive::Executor& io();
  hive::Executor& blocking();
  // Timer callbacks run on the I/O threads. A periodic timer re-arms only after its
  // callback returned, so calls never overlap. Cancelling (or destroying the handle)
  // from inside the callback itself returns at once; from another thread it waits for a
  // running callback. Handles may outlive the Runtime; stop() has cancelled them.
  hive::Timers& timers();

  // Parks every I/O and blocking thread in kernel code at once: one blocking handler is
  // posted per thread, and once all of them are parked, `whileParked` (if given) runs
  // on the calling thread and the threads are released. Called before a plugin library
  // is closed, so that no thread is still in the epilogue of a plugin's handler.
  // Returns false, after releasing the threads that did park, if not all threads parked
  // within `timeout` (`whileParked` is then not called), or when called from a runtime
  // thread. When the runtime is not running there is nothing to park: returns true.
  bool quiesce(std::chrono::milliseconds timeout, const std::function<void()>& whileParked = {});

  // Runs `wait` (which blocks until kernel work done on another thread ends) with
  // the calling runtime thread counted as parked: a quiesce() meanwhile does not
  // wait for it, and it does not return to its caller, which may be a plugin's
  // code, until that quiesce is over. How a plugin's request thread waits for a
  // swap the kernel runs on its own thread. Off the runtime's threads it just
  // calls `wait`.
  void waitParked(const std::function<void()>& wait);

  std::size_t ioThreadCount() const;
  std::size_t blockingThreadCount() const;
  // Threads currently parked by quiesce(); all of them while `whileParked` runs
  // (those in waitParked() are not counted here).
  std::size_t parkedThreadCount() const;
  bool running() const;
  // True on the runtime's I/O and blocking threads.
  bool onRuntimeThread() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hive::host
