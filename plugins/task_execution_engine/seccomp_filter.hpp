// The seccomp filter every job runs under: no file of the job can get a
// setuid or setgid bit.
//
// chmod, fchmod, fchmodat and fchmodat2 with S_ISUID or S_ISGID in the mode,
// and open, openat, creat, mknod and mknodat creating a file with those bits,
// fail with EPERM. openat2 (its mode sits in a struct the filter cannot read)
// and io_uring (whose requests a filter never sees) fail with ENOSYS, so that
// programs fall back to the calls above. Everything else is allowed: the
// filter closes one path to privilege, it is not a general system call policy.
// System calls of another ABI (32-bit x86 on x86_64) kill the process, since
// the rules above only cover the native one.
//
// Built with libseccomp once, when the plugin starts; the classic BPF program
// is installed in the command child after no_new_privs, before it execs
// (bubblewrap included), and is inherited by everything the job runs.
#pragma once

#include <linux/filter.h>

#include <vector>

#include "hive/status.hpp"

namespace hive::task_execution_engine {

Result<std::vector<sock_filter>> buildSeccompFilter();

}  // namespace hive::task_execution_engine
