#include "process_tree.hpp"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace hive::task_execution_engine {
namespace {

// File descriptors in the supervisor and the command, after the shuffle.
constexpr int kStatusFd = 3;

// Everything the children use, laid out before the fork so that nothing is
// allocated after it.
struct ChildPlan {
  const char* program = nullptr;
  char* const* arguments = nullptr;
  char* const* environment = nullptr;
  const char* workDirectory = nullptr;
  struct Limit {
    int resource;
    rlim_t value;
  };
  Limit limits[6] = {};
  int limitCount = 0;
  bool switchIdentity = false;
  uid_t uid = 0;
  gid_t gid = 0;
  sock_fprog seccomp{};
  pid_t host = 0;
  // The host's ends, as created (any numbers).
  int stdinRead = -1;
  int stdoutWrite = -1;
  int stderrWrite = -1;
  int statusWrite = -1;
  int cgroupProcs = -1;  // the host's numbers (SpawnRequest); -1: none
  int cgroupKill = -1;
};

// In the supervisor and the command, the job cgroup's files, when given.
constexpr int kCgroupProcsFd = 4;
constexpr int kCgroupKillFd = 5;

// --- Async-signal-safe helpers (used only between fork and exec) ---------------

void report(SupervisorEvent event, std::int32_t value) {
  SupervisorRecord record{event, value};
  const char* bytes = reinterpret_cast<const char*>(&record);
  std::size_t done = 0;
  while (done < sizeof record) {
    ssize_t n = write(kStatusFd, bytes + done, sizeof record - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

// Writes the decimal `value` after `prefix` into `out` (NUL-terminated).
void formatPath(char* out, const char* prefix, long value, const char* suffix) {
  char digits[24];
  int count = 0;
  do {
    digits[count++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0 && count < 23);
  while (*prefix != '\0') *out++ = *prefix++;
  while (count > 0) *out++ = digits[--count];
  while (*suffix != '\0') *out++ = *suffix++;
  *out = '\0';
}

// The parent pid in /proc/<pid>/stat, or -1.
pid_t parentOf(long pid) {
  char path[64];
  formatPath(path, "/proc/", pid, "/stat");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buffer[1024];
  ssize_t n = read(fd, buffer, sizeof buffer - 1);
  close(fd);
  if (n <= 0) return -1;
  buffer[n] = '\0';
  // "pid (comm) S ppid ...": comm may hold anything, so look for the last ')'.
  char* close = nullptr;
  for (char* p = buffer; *p != '\0'; ++p)
    if (*p == ')') close = p;
  if (close == nullptr || close[1] != ' ' || close[2] == '\0' || close[3] != ' ') return -1;
  long parent = 0;
  for (char* p = close + 4; *p >= '0' && *p <= '9'; ++p) parent = parent * 10 + (*p - '0');
  return static_cast<pid_t>(parent);
}

struct LinuxDirent64 {
  std::uint64_t inode;
  std::int64_t offset;
  unsigned short length;
  unsigned char type;
  char name[1];
};

// SIGKILLs every process whose parent is `self` (the subreaper collects all
// orphans of the tree). Returns how many it signalled.
int killChildrenOf(pid_t self) {
  int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;
  int killed = 0;
  alignas(8) char buffer[8192];
  while (true) {
    long n = syscall(SYS_getdents64, fd, buffer, sizeof buffer);
    if (n <= 0) break;
    for (long offset = 0; offset < n;) {
      auto* entry = reinterpret_cast<LinuxDirent64*>(buffer + offset);
      offset += entry->length;
      long pid = 0;
      const char* name = entry->name;
      if (*name == '\0') continue;
      bool numeric = true;
      for (const char* p = name; *p != '\0'; ++p) {
        if (*p < '0' || *p > '9') {
          numeric = false;
          break;
        }
        pid = pid * 10 + (*p - '0');
      }
      if (!numeric || pid == self) continue;
      if (parentOf(pid) == self && kill(static_cast<pid_t>(pid), SIGKILL) == 0) ++killed;
    }
  }
  close(fd);
  return killed;
}

// Kills the command's group and every descendant until none is left; records
// the command's status when it is reaped here.
void killTree(pid_t command, int* status, bool* commandDone, bool cgroupKill) {
  pid_t self = getpid();
  // Every process of the job's cgroup at once, wherever it was reparented.
  if (cgroupKill) (void)!write(kCgroupKillFd, "1", 1);
  if (!*commandDone) {
    // The group's id cannot be reused while the (possibly zombie) leader exists.
    kill(-command, SIGKILL);
    kill(command, SIGKILL);
  }
  while (true) {
    killChildrenOf(self);
    int childStatus = 0;
    pid_t pid = waitpid(-1, &childStatus, __WALL);
    if (pid < 0) {
      if (errno == EINTR) continue;
      return;  // ECHILD: nothing left
    }
    if (pid == command && !*commandDone) {
      *status = childStatus;
      *commandDone = true;
    }
  }
}

[[noreturn]] void failStart() {
  report(SupervisorEvent::kExecFailed, errno);
  _exit(127);
}

[[noreturn]] void runCommand(const ChildPlan& plan) {
  // Into the job's cgroup first, while still privileged to; where that fails
  // the job runs without one (measured through /proc instead).
  if (plan.cgroupProcs >= 0) {
    (void)!write(kCgroupProcsFd, "0", 1);
    close(kCgroupProcsFd);
    close(kCgroupKillFd);
  }
  setsid();
  for (int i = 0; i < plan.limitCount; ++i) {
    struct rlimit limit {
      plan.limits[i].value, plan.limits[i].value
    };
    if (plan.limits[i].resource == RLIMIT_CPU) limit.rlim_max = plan.limits[i].value + 2;  // SIGXCPU first
    if (setrlimit(plan.limits[i].resource, &limit) != 0) failStart();
  }
  if (plan.switchIdentity) {
    // Groups first (setgroups needs privilege), uid last; a uid change from
    // root to a non-zero uid in all three of real, effective and saved also
    // clears every capability. Raw system calls: glibc's wrappers broadcast
    // to all threads, which is not async-signal-safe after fork.
    if (syscall(SYS_setgroups, 0, nullptr) != 0) failStart();
    if (syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0) failStart();
    if (syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0) failStart();
    // Refuse to go on if root could be regained (should never happen).
    if (syscall(SYS_setresuid, 0, 0, 0) == 0) {
      errno = EPERM;
      failStart();
    }
  }
  // Neither the command nor anything it runs can gain privileges through a
  // setuid/setgid binary or file capabilities; the seccomp filter needs it too.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) failStart();
  if (plan.seccomp.len > 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &plan.seccomp, 0, 0) != 0)
    failStart();
  // After the switch: the directory must be reachable by the job's own uid.
  if (chdir(plan.workDirectory) != 0) failStart();
  struct sigaction defaults {};
  defaults.sa_handler = SIG_DFL;
  for (int signal = 1; signal < NSIG; ++signal)
    if (signal != SIGKILL && signal != SIGSTOP) sigaction(signal, &defaults, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(plan.program, plan.arguments, plan.environment);
  report(SupervisorEvent::kExecFailed, errno);
  _exit(127);
}

[[noreturn]] void runSupervisor(const ChildPlan& plan) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  struct sigaction defaults {};
  defaults.sa_handler = SIG_DFL;
  sigaction(SIGCHLD, &defaults, nullptr);  // an inherited SIG_IGN would auto-reap

  // The job cgroup's files, out of the way of the pipe ends moved below.
  int cgroupProcs = plan.cgroupProcs >= 0 ? fcntl(plan.cgroupProcs, F_DUPFD_CLOEXEC, 64) : -1;
  int cgroupKill = plan.cgroupKill >= 0 ? fcntl(plan.cgroupKill, F_DUPFD_CLOEXEC, 64) : -1;

  setsid();  // away from the host's terminal signals
  bool terminate = false;
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != plan.host) terminate = true;
  prctl(PR_SET_CHILD_SUBREAPER, 1);

  // Move the four pipe ends to 0..3 (first above 3, so no dup2 clobbers another).
  int in = fcntl(plan.stdinRead, F_DUPFD_CLOEXEC, 4);
  int out = fcntl(plan.stdoutWrite, F_DUPFD_CLOEXEC, 4);
  int err = fcntl(plan.stderrWrite, F_DUPFD_CLOEXEC, 4);
  int status = fcntl(plan.statusWrite, F_DUPFD_CLOEXEC, 4);
  if (in < 0 || out < 0 || err < 0 || status < 0) _exit(126);
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 || dup3(status, kStatusFd, O_CLOEXEC) < 0)
    _exit(126);
  if (cgroupProcs >= 0 && dup3(cgroupProcs, kCgroupProcsFd, O_CLOEXEC) < 0) _exit(126);
  if (cgroupKill >= 0 && dup3(cgroupKill, kCgroupKillFd, O_CLOEXEC) < 0) _exit(126);
  if (cgroupProcs >= 0 && cgroupKill < 0) close(kCgroupKillFd);  // may hold a copy of a pipe end
  syscall(SYS_close_range, cgroupProcs >= 0 ? 6U : 4U, ~0U, 0U);

  pid_t command = terminate ? -1 : fork();
  if (command < 0) {
    if (!terminate) report(SupervisorEvent::kExecFailed, errno);
    _exit(0);
  }
  if (command == 0) runCommand(plan);
  report(SupervisorEvent::kStarted, command);
  // Only the command keeps the output pipes open: EOF means the tree is gone.
  close(0);
  close(1);
  close(2);

  sigset_t wanted;
  sigemptyset(&wanted);
  sigaddset(&wanted, SIGCHLD);
  sigaddset(&wanted, SIGTERM);
  sigaddset(&wanted, SIGINT);
  sigaddset(&wanted, SIGHUP);
  int commandStatus = 0;
  bool commandDone = false;
  while (!terminate && !commandDone) {
    while (true) {
      int childStatus = 0;
      pid_t pid = waitpid(-1, &childStatus, WNOHANG | __WALL);
      if (pid <= 0) break;
      if (pid == command) {
        commandStatus = childStatus;
        commandDone = true;
      }
    }
    if (commandDone) break;
    siginfo_t info;
    int signal = sigwaitinfo(&wanted, &info);
    if (signal == SIGTERM || signal == SIGINT || signal == SIGHUP) terminate = true;
  }
  // Whatever the command left behind goes with it.
  killTree(command, &commandStatus, &commandDone, cgroupKill >= 0);
  if (commandDone) report(SupervisorEvent::kExited, commandStatus);
  _exit(0);
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

void closeFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

Status systemError(const std::string& what, int error) {
  return internalError(what + ": " + std::strerror(error));
}

}  // namespace

Result<std::unique_ptr<ProcessTree>> ProcessTree::start(const SpawnRequest& request) {
  std::vector<std::string> arguments = request.arguments;
  std::vector<std::string> environment = request.environment;
  std::vector<char*> argv = pointers(arguments);
  std::vector<char*> envp = pointers(environment);

  ChildPlan plan;
  plan.program = request.program.c_str();
  plan.arguments = argv.data();
  plan.environment = envp.data();
  plan.workDirectory = request.workDirectory.c_str();
  plan.host = getpid();
  auto addLimit = [&plan](int resource, const std::optional<std::uint64_t>& value) {
    if (value) plan.limits[plan.limitCount++] = {resource, static_cast<rlim_t>(*value)};
  };
  addLimit(RLIMIT_CPU, request.limits.cpuSeconds);
  addLimit(RLIMIT_AS, request.limits.memoryBytes);
  addLimit(RLIMIT_FSIZE, request.limits.fileSizeBytes);
  addLimit(RLIMIT_NOFILE, request.limits.openFiles);
  addLimit(RLIMIT_NPROC, request.limits.processes);
  if (request.identity) {
    plan.switchIdentity = true;
    plan.uid = request.identity->uid;
    plan.gid = request.identity->gid;
  }
  plan.cgroupProcs = request.cgroupProcsFd;
  plan.cgroupKill = request.cgroupProcsFd >= 0 ? request.cgroupKillFd : -1;
  if (request.seccomp != nullptr && !request.seccomp->empty()) {
    plan.seccomp.len = static_cast<unsigned short>(request.seccomp->size());
    plan.seccomp.filter = const_cast<sock_filter*>(request.seccomp->data());
  }

  int in[2], out[2], err[2], status[2];
  int* pipes[] = {in, out, err, status};
  int made = 0;
  for (; made < 4; ++made) {
    if (pipe2(pipes[made], O_CLOEXEC) != 0) {
      int error = errno;
      for (int i = 0; i < made; ++i) close(pipes[i][0]), close(pipes[i][1]);
      return systemError("pipe2", error);
    }
  }
  plan.stdinRead = in[0];
  plan.stdoutWrite = out[1];
  plan.stderrWrite = err[1];
  plan.statusWrite = status[1];

  pid_t pid = fork();
  if (pid == 0) runSupervisor(plan);
  int forkError = errno;
  close(in[0]);
  close(out[1]);
  close(err[1]);
  close(status[1]);
  std::unique_ptr<ProcessTree> tree(new ProcessTree());
  tree->stdin_ = in[1];
  tree->stdout_ = out[0];
  tree->stderr_ = err[0];
  tree->status_ = status[0];
  if (pid < 0) {
    tree->reaped_ = true;
    return systemError("fork", forkError);
  }
  tree->supervisor_ = pid;
  for (int fd : {tree->stdin_, tree->stdout_, tree->stderr_, tree->status_})
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return tree;
}

ProcessTree::~ProcessTree() {
  if (!reaped_) {
    terminate();
    reap();
  }
  closeStdin();
  closeStdout();
  closeStderr();
  closeStatus();
}

void ProcessTree::closeStdin() { closeFd(stdin_); }
void ProcessTree::closeStdout() { closeFd(stdout_); }
void ProcessTree::closeStderr() { closeFd(stderr_); }
void ProcessTree::closeStatus() { closeFd(status_); }

void ProcessTree::terminate() {
  if (!reaped_ && supervisor_ > 0) kill(supervisor_, SIGTERM);
}

void ProcessTree::forceKill() {
  if (!reaped_ && supervisor_ > 0) kill(supervisor_, SIGKILL);
}

void ProcessTree::reap() {
  if (reaped_ || supervisor_ <= 0) return;
  int status = 0;
  while (waitpid(supervisor_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
}

std::string findProgram(const std::string& name, const std::string& path) {
  if (name.empty()) return {};
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : std::string();
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string directory = path.substr(start, end - start);
    if (!directory.empty()) {
      std::string candidate = directory + "/" + name;
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    start = end + 1;
  }
  return {};
}

}  // namespace hive::task_execution_engine
