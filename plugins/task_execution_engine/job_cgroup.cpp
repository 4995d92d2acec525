#include "job_cgroup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace hive::task_execution_engine {
namespace {

std::string errorText(int error) { return std::strerror(error); }

// The mount point of the cgroup2 file system in a mountinfo listing; empty when none.
std::string cgroup2Mount(const std::string& mountinfo) {
  std::ifstream in(mountinfo);
  for (std::string line; std::getline(in, line);) {
    // "id parent major:minor root mountpoint options [optional...] - fstype source super"
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream after(line.substr(dash + 3));
    std::string type;
    after >> type;
    if (type != "cgroup2") continue;
    std::istringstream before(line.substr(0, dash));
    std::string id, parent, device, root, mountPoint;
    before >> id >> parent >> device >> root >> mountPoint;
    if (root == "/") return mountPoint;
  }
  return "";
}

// This process's cgroup v2 path ("0::<path>" in /proc/self/cgroup); empty when none.
std::string ownCgroup(const std::string& selfCgroup) {
  std::ifstream in(selfCgroup);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return "";
}

}  // namespace

Result<std::string> prepareJobCgroups(const std::string& mountinfo, const std::string& selfCgroup) {
  std::string mount = cgroup2Mount(mountinfo);
  if (mount.empty()) return failedPrecondition("no cgroup2 file system is mounted");
  std::string own = ownCgroup(selfCgroup);
  if (own.empty()) return failedPrecondition("this process is in no cgroup v2 (" + selfCgroup + ")");
  if (own == "/") own.clear();
  std::string parent = mount + own + "/" + kJobCgroupsDirectory;
  if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST)
    return failedPrecondition("cannot make " + parent + ": " + errorText(errno));
  if (::access((parent + "/cgroup.procs").c_str(), W_OK) != 0)
    return failedPrecondition(parent + "/cgroup.procs is not writable: " + errorText(errno));
  return parent;
}

Result<std::unique_ptr<JobCgroup>> JobCgroup::create(const std::string& parent) {
  static std::atomic<std::uint64_t> sequence{0};
  std::unique_ptr<JobCgroup> group(new JobCgroup());
  group->path_ = parent + "/job-" + std::to_string(::getpid()) + "-" + std::to_string(++sequence);
  if (::mkdir(group->path_.c_str(), 0755) != 0) {
    int error = errno;
    group->path_.clear();
    return unavailable("cannot make a cgroup for the job in " + parent + ": " + errorText(error));
  }
  group->procs_ = ::open((group->path_ + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  if (group->procs_ < 0) return unavailable("cannot open the job cgroup's cgroup.procs: " + errorText(errno));
  group->kill_ = ::open((group->path_ + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
  return group;
}

JobCgroup::~JobCgroup() {
  if (procs_ >= 0) ::close(procs_);
  if (kill_ >= 0) ::close(kill_);
  if (path_.empty()) return;
  // Empty once its last process was reaped; a zombie the supervisor has not
  // reaped yet keeps it busy for a moment.
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (::rmdir(path_.c_str()) == 0 || errno == ENOENT) return;
    if (errno != EBUSY) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace hive::task_execution_engine
