// Reading where cgroup v2 is and which cgroup v2 a process is in, from the
// /proc files that say so: shared by task_execution_engine (which makes a
// cgroup per job) and resource_manager (which reads it).
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace hive::plugin_common {

// The mount point of the cgroup2 file system (its root) in a
// /proc/<pid>/mountinfo listing; empty when none is mounted.
inline std::string cgroup2MountIn(std::string_view mountinfo) {
  std::istringstream lines{std::string(mountinfo)};
  for (std::string line; std::getline(lines, line);) {
    // "id parent major:minor root mountpoint options [optional...] - fstype source super"
    auto dash = line.find(" - cgroup2 ");
    if (dash == std::string::npos) continue;
    std::istringstream fields(line.substr(0, dash));
    std::string id, parent, device, root, mountPoint;
    fields >> id >> parent >> device >> root >> mountPoint;
    if (root == "/") return mountPoint;
  }
  return "";
}

// The cgroup v2 path in a /proc/<pid>/cgroup listing (its "0::<path>" line);
// empty when there is none.
inline std::string cgroup2PathIn(std::string_view listing) {
  std::istringstream lines{std::string(listing)};
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return "";
}

}  // namespace hive::plugin_common
