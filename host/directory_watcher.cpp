#include "host/directory_watcher.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <thread>

namespace hive::host {

using Clock = std::chrono::steady_clock;

struct DirectoryWatcher::Impl {
  std::vector<std::string> directories;
  std::chrono::milliseconds settle;
  Callback onSettled;
  Logger& log;
  int inotifyFd = -1;
  int stopFd = -1;
  std::map<int, std::string> watches;  // watch descriptor -> directory
  std::thread thread;

  struct Pending {
    Clock::time_point lastEvent;
    off_t size = -1;
    std::int64_t modified = -1;
  };
  std::map<std::string, Pending> pending;

  void readEvents() {
    alignas(inotify_event) char buffer[16 * 1024];
    for (;;) {
      ssize_t n = ::read(inotifyFd, buffer, sizeof buffer);
      if (n <= 0) return;
      for (char* p = buffer; p < buffer + n;) {
        auto* event = reinterpret_cast<inotify_event*>(p);
        p += sizeof(inotify_event) + event->len;
        if (event->mask & IN_Q_OVERFLOW) {
          log.warn("file watch queue overflowed; some changes may be noticed late");
          continue;
        }
        if (event->len == 0 || (event->mask & IN_ISDIR)) continue;
        auto dir = watches.find(event->wd);
        if (dir == watches.end()) continue;
        std::string path = dir->second + "/" + event->name;
        auto& entry = pending[path];
        entry.lastEvent = Clock::now();
        entry.size = -1;  // look again once quiet
      }
    }
  }

  // Fires every pending file that has been quiet for `settle` and looks the
  // same twice; returns how long to sleep before the next look.
  int firesDue() {
    auto now = Clock::now();
    int wait = -1;
    for (auto it = pending.begin(); it != pending.end();) {
      auto& [path, entry] = *it;
      auto quietFor = now - entry.lastEvent;
      if (quietFor < settle) {
        int ms = static_cast<int>(
                     std::chrono::duration_cast<std::chrono::milliseconds>(settle - quietFor).count()) +
                 1;
        wait = wait < 0 ? ms : std::min(wait, ms);
        ++it;
        continue;
      }
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0) {  // removed or renamed away: nothing to load
        it = pending.erase(it);
        continue;
      }
      std::int64_t modified =
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
      if (entry.size != st.st_size || entry.modified != modified) {
        entry.size = st.st_size;
        entry.modified = modified;
        entry.lastEvent = now;  // look once more after another quiet period
        int ms = static_cast<int>(settle.count()) + 1;
        wait = wait < 0 ? ms : std::min(wait, ms);
        ++it;
        continue;
      }
      std::string settled = path;
      it = pending.erase(it);
      try {
        onSettled(settled);
      } catch (const std::exception& e) {
        log.error("file watch callback for " + settled + " threw: " + e.what());
      }
    }
    return wait;
  }

  void run() {
    for (;;) {
      pollfd fds[2] = {{inotifyFd, POLLIN, 0}, {stopFd, POLLIN, 0}};
      int timeout = pending.empty() ? -1 : firesDue();
      if (!pending.empty() && timeout < 0) timeout = 0;
      int ready = ::poll(fds, 2, pending.empty() ? -1 : timeout);
      if (ready < 0 && errno != EINTR) {
        log.error(std::string("file watch stopped: poll: ") + std::strerror(errno));
        return;
      }
      if (fds[1].revents & POLLIN) return;
      if (fds[0].revents & POLLIN) readEvents();
      if (!pending.empty()) firesDue();
    }
  }
};

DirectoryWatcher::DirectoryWatcher(std::vector<std::string> directories, std::chrono::milliseconds settle,
                                   Callback onSettled, Logger& log)
    : impl_(new Impl{std::move(directories), settle, std::move(onSettled), log, -1, -1, {}, {}, {}}) {}

DirectoryWatcher::~DirectoryWatcher() { stop(); }

Status DirectoryWatcher::start() {
  Impl& i = *impl_;
  if (i.thread.joinable()) return okStatus();
  i.inotifyFd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (i.inotifyFd < 0) return unavailable(std::string("inotify_init1: ") + std::strerror(errno));
  i.stopFd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (i.stopFd < 0) return unavailable(std::string("eventfd: ") + std::strerror(errno));
  for (const auto& directory : i.directories) {
    int wd = ::inotify_add_watch(i.inotifyFd, directory.c_str(),
                                 IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY);
    if (wd < 0) {
      i.log.warn("cannot watch " + directory + ": " + std::strerror(errno));
      continue;
    }
    i.watches[wd] = directory;
  }
  i.thread = std::thread([&i] { i.run(); });
  return okStatus();
}

void DirectoryWatcher::stop() {
  Impl& i = *impl_;
  if (i.thread.joinable()) {
    std::uint64_t one = 1;
    (void)!::write(i.stopFd, &one, sizeof one);
    i.thread.join();
  }
  if (i.inotifyFd >= 0) ::close(std::exchange(i.inotifyFd, -1));
  if (i.stopFd >= 0) ::close(std::exchange(i.stopFd, -1));
}

}  // namespace hive::host
