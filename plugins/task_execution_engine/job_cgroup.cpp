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

#include "plugin_common/cgroup_v2.hpp"

namespace hive::task_execution_engine {
namespace {

std::string errorText(int error) { return std::strerror(error); }

std::string readAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

Result<std::string> prepareJobCgroups(const std::string& mountinfo, const std::string& selfCgroup) {
  std::string mount = plugin_common::cgroup2MountIn(readAll(mountinfo));
  if (mount.empty()) return failedPrecondition("no cgroup2 file system is mounted");
  std::string own = plugin_common::cgroup2PathIn(readAll(selfCgroup));
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
