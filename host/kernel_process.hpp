// The kernel as a process (`hive run`): loads and starts the plugins, serves
// until SIGTERM or SIGINT, reloads on SIGHUP, and stops everything it started
// in reverse order within hive.drain_deadline.
//
// Signals are taken synchronously (sigtimedwait) on the calling thread, never
// by a handler that could run inside plugin code. Start-up runs on a thread of
// its own so that a stop is still heard while a plugin starts: a plugin stuck
// on its data must not make Hive unkillable, and start-up as a whole is bounded
// by hive.start_timeout. A second SIGTERM/SIGINT during a stop, or a stop that
// overruns the drain deadline, ends the process at once (_exit).
#pragma once

#include <signal.h>

#include <chrono>
#include <string>
#include <vector>

#include "host/config/kernel_config.hpp"

namespace hive::host {

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread and so in every
// thread created from it afterwards; returns that set for runKernel(). Call it
// before any thread exists.
sigset_t blockKernelSignals();

// Runs the kernel on `config` until a stop; returns the process exit code: 0
// after a clean stop, 1 when it could not start (the log says why). The
// config files are what SIGHUP and `hive config reload` read again; `begin`
// is when the command began, for the "hive ready ... in N ms" line.
int runKernel(KernelConfig config, const std::vector<std::string>& configFiles, const sigset_t& signals,
              std::chrono::steady_clock::time_point begin);

}  // namespace hive::host
