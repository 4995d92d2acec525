// Watches directories (inotify) and reports files that were written or moved
// in, once they have settled: no event for `settle`, and the same size and
// modification time on two looks. Editors and Kubernetes replace files by
// rename, and builds write in place over many writes; both end up as one call.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hive/log.hpp"
#include "hive/status.hpp"

namespace hive::host {

class DirectoryWatcher {
 public:
  using Callback = std::function<void(const std::string& path)>;

  // `onSettled` runs on the watcher's own thread, one call at a time.
  DirectoryWatcher(std::vector<std::string> directories, std::chrono::milliseconds settle, Callback onSettled,
                   Logger& log);
  ~DirectoryWatcher();
  DirectoryWatcher(const DirectoryWatcher&) = delete;
  DirectoryWatcher& operator=(const DirectoryWatcher&) = delete;

  Status start();
  void stop();  // idempotent; waits for a running callback

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hive::host
