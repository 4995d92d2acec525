#include "seccomp_filter.hpp"

#include <fcntl.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

namespace hive::task_execution_engine {
namespace {

struct ContextDeleter {
  void operator()(void* context) const { seccomp_release(context); }
};
using Context = std::unique_ptr<void, ContextDeleter>;

Status seccompError(const std::string& what, int result) {
  return internalError("seccomp: " + what + ": " + std::strerror(-result));
}

// Adds "fail `syscall` with `error` when argument `argument` has `bit`", plus
// `extra` conditions; a system call this libseccomp or kernel does not know
// is skipped (the kernel cannot run what it does not have).
Status refuseWhen(void* context, const char* name, unsigned argument, scmp_datum_t bit,
                  std::vector<scmp_arg_cmp> extra = {}) {
  int syscall = seccomp_syscall_resolve_name(name);
  if (syscall == __NR_SCMP_ERROR) return okStatus();
  std::vector<scmp_arg_cmp> conditions = {SCMP_CMP(argument, SCMP_CMP_MASKED_EQ, bit, bit)};
  conditions.insert(conditions.end(), extra.begin(), extra.end());
  int result = seccomp_rule_add_array(context, SCMP_ACT_ERRNO(EPERM), syscall,
                                      static_cast<unsigned>(conditions.size()), conditions.data());
  if (result != 0) return seccompError(std::string("rule for ") + name, result);
  return okStatus();
}

Status refuseAlways(void* context, const char* name, int error) {
  int syscall = seccomp_syscall_resolve_name(name);
  if (syscall == __NR_SCMP_ERROR) return okStatus();
  int result = seccomp_rule_add(context, SCMP_ACT_ERRNO(error), syscall, 0);
  if (result != 0) return seccompError(std::string("rule for ") + name, result);
  return okStatus();
}

}  // namespace

Result<std::vector<sock_filter>> buildSeccompFilter() {
  Context context(seccomp_init(SCMP_ACT_ALLOW));
  if (!context) return internalError("seccomp: cannot create a filter");
  void* filter = context.get();
  for (scmp_datum_t bit : {scmp_datum_t{S_ISUID}, scmp_datum_t{S_ISGID}}) {
    HIVE_TRY(refuseWhen(filter, "chmod", 1, bit));
    HIVE_TRY(refuseWhen(filter, "fchmod", 1, bit));
    HIVE_TRY(refuseWhen(filter, "fchmodat", 2, bit));
    HIVE_TRY(refuseWhen(filter, "fchmodat2", 2, bit));
    HIVE_TRY(refuseWhen(filter, "creat", 1, bit));
    HIVE_TRY(refuseWhen(filter, "mknod", 1, bit));
    HIVE_TRY(refuseWhen(filter, "mknodat", 2, bit));
    // open/openat use the mode only when creating (O_CREAT, or O_TMPFILE,
    // which includes O_DIRECTORY's bit and so needs the whole of it).
    for (scmp_datum_t creating : {scmp_datum_t{O_CREAT}, scmp_datum_t{O_TMPFILE}}) {
      HIVE_TRY(refuseWhen(filter, "open", 2, bit, {SCMP_A1(SCMP_CMP_MASKED_EQ, creating, creating)}));
      HIVE_TRY(refuseWhen(filter, "openat", 3, bit, {SCMP_A2(SCMP_CMP_MASKED_EQ, creating, creating)}));
    }
  }
  HIVE_TRY(refuseAlways(filter, "openat2", ENOSYS));
  for (const char* name : {"io_uring_setup", "io_uring_enter", "io_uring_register"})
    HIVE_TRY(refuseAlways(filter, name, ENOSYS));

  // Exported through a memfd: libseccomp writes the program to a descriptor.
  int fd = memfd_create("hive-seccomp", MFD_CLOEXEC);
  if (fd < 0) return internalError(std::string("seccomp: memfd_create: ") + std::strerror(errno));
  int exported = seccomp_export_bpf(filter, fd);
  off_t size = lseek(fd, 0, SEEK_END);
  if (exported != 0 || size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0) {
    close(fd);
    return exported != 0 ? seccompError("export", exported) : internalError("seccomp: empty program");
  }
  std::vector<sock_filter> program(static_cast<std::size_t>(size) / sizeof(sock_filter));
  ssize_t read = pread(fd, program.data(), static_cast<std::size_t>(size), 0);
  close(fd);
  if (read != size) return internalError("seccomp: cannot read the exported program");
  return program;
}

}  // namespace hive::task_execution_engine
