#include "janitor.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "work_directory.hpp"
#include "work_tree.hpp"

namespace hive::task_execution_engine {
namespace {

std::chrono::milliseconds sweepPeriod(std::chrono::milliseconds retention) {
  return std::clamp<std::chrono::milliseconds>(retention / 4, std::chrono::seconds(1),
                                               std::chrono::minutes(10));
}

}  // namespace

WorkspaceJanitor::WorkspaceJanitor(std::vector<AgentSettings> agents, std::chrono::milliseconds retention,
                                   std::optional<Identity> identity, Logger& log)
    : agents_(std::move(agents)), retention_(retention), identity_(identity), log_(log) {}

WorkspaceJanitor::~WorkspaceJanitor() { stop(); }

void WorkspaceJanitor::start() {
  thread_ = std::thread([this] { run(); });
}

void WorkspaceJanitor::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_.store(true);
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WorkspaceJanitor::claim(const std::string& path) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return claims_[path] >= 0; });
  ++claims_[path];
}

void WorkspaceJanitor::release(const std::string& path) {
  std::lock_guard lock(mutex_);
  auto found = claims_.find(path);
  if (found != claims_.end() && --found->second <= 0) claims_.erase(found);
}

bool WorkspaceJanitor::tryClaimForRemoval(const std::string& path) {
  std::lock_guard lock(mutex_);
  if (claims_.count(path) != 0) return false;
  claims_[path] = -1;
  return true;
}

void WorkspaceJanitor::releaseRemoval(const std::string& path) {
  {
    std::lock_guard lock(mutex_);
    claims_.erase(path);
  }
  changed_.notify_all();
}

void WorkspaceJanitor::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    sweep();
    lock.lock();
    changed_.wait_for(lock, sweepPeriod(retention_), [this] { return stopping_; });
  }
}

void WorkspaceJanitor::sweep() {
  auto cutoff = std::chrono::system_clock::now() - retention_;
  std::size_t looked = 0;
  for (const AgentSettings& agent : agents_) {
    std::string tasks = tasksDirectory(agent);
    DIR* directory = opendir(tasks.c_str());
    if (directory == nullptr) continue;
    std::vector<std::string> expired;
    while (dirent* entry = readdir(directory)) {
      if (++looked > kMaxEntriesPerPass) break;  // the next pass goes on
      if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
      std::string path = tasks + "/" + entry->d_name;
      struct stat info {};
      if (lstat(path.c_str(), &info) != 0) continue;
      auto modified = std::chrono::system_clock::time_point(std::chrono::seconds(info.st_mtim.tv_sec));
      if (modified <= cutoff) expired.push_back(std::move(path));
    }
    closedir(directory);
    std::size_t removed = 0;
    for (const std::string& path : expired) {
      if (stop_.load()) return;
      if (!tryClaimForRemoval(path)) continue;  // a job is using it
      // Jobs also hold a shared flock on their directory: that covers jobs of
      // another generation of this plugin (a hot swap), which have a janitor
      // and claims of their own.
      int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      struct stat info {};
      bool idle =
          fd < 0 ||
          (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &info) == 0 &&
           std::chrono::system_clock::time_point(std::chrono::seconds(info.st_mtim.tv_sec)) <= cutoff);
      Status status = idle ? removeTree(path, &stop_) : aborted("in use");
      if (fd >= 0) close(fd);
      releaseRemoval(path);
      if (!idle) continue;
      if (status.ok()) {
        ++removed;
      } else if (status.code() != StatusCode::kAborted) {
        log_.warn("workspace retention: cannot remove " + path + ": " + status.message());
      }
    }
    if (removed > 0) {
      pruneWorktrees(agent, identity_);
      log_.info("workspace retention: removed " + std::to_string(removed) + " task director" +
                (removed == 1 ? "y" : "ies") + " of agent '" + agent.name + "'");
    }
  }
}

}  // namespace hive::task_execution_engine
