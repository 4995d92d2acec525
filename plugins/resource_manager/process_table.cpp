#include "process_table.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "plugin_common/cgroup_v2.hpp"

namespace hive::resource_manager {

namespace {

bool readFile(const std::string& path, std::string& out) {
  std::ifstream in(path);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  out = text.str();
  return true;
}

std::optional<pid_t> pidOf(const char* name) {
  char* end = nullptr;
  long value = std::strtol(name, &end, 10);
  if (end == name || *end != '\0' || value <= 0) return std::nullopt;
  return static_cast<pid_t>(value);
}

std::optional<std::uint64_t> readNumber(const std::string& path) {
  std::string text;
  if (!readFile(path, text) || text.empty() || text[0] < '0' || text[0] > '9') return std::nullopt;
  return std::strtoull(text.c_str(), nullptr, 10);
}

}  // namespace

std::optional<StatFields> parseStat(const std::string& text) {
  // The command name is in parentheses and may itself hold ") ": the fields
  // start after the last one.
  auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 1));
  std::vector<std::string> f;
  for (std::string field; fields >> field;) f.push_back(field);
  // f[0] is field 3 (state): field n is f[n - 3].
  if (f.size() < 22) return std::nullopt;
  auto number = [&](std::size_t field) { return std::strtoull(f[field - 3].c_str(), nullptr, 10); };
  StatFields out;
  out.parent = static_cast<pid_t>(std::strtol(f[1].c_str(), nullptr, 10));
  out.userTicks = number(14);
  out.systemTicks = number(15);
  out.childUserTicks = number(16);
  out.childSystemTicks = number(17);
  out.residentPages = number(24);
  return out;
}

namespace {

std::string mountOfCgroups(const std::string& procRoot) {
  std::string mountinfo;
  return readFile(procRoot + "/self/mountinfo", mountinfo) ? plugin_common::cgroup2MountIn(mountinfo)
                                                           : std::string();
}

}  // namespace

ProcessTable::ProcessTable(std::string procRoot, std::chrono::milliseconds maxAge,
                           std::optional<std::string> cgroupMount)
    : procRoot_(std::move(procRoot)),
      maxAge_(maxAge),
      cgroupMount_(cgroupMount ? *cgroupMount : mountOfCgroups(procRoot_)),
      ticksPerSecond_(static_cast<double>(sysconf(_SC_CLK_TCK))),
      pageBytes_(static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE))) {}

std::optional<ProcessTable::Entry> ProcessTable::readStat(pid_t pid) const {
  std::string text;
  if (!readFile(procRoot_ + "/" + std::to_string(pid) + "/stat", text)) return std::nullopt;
  auto stat = parseStat(text);
  if (!stat) return std::nullopt;
  Entry entry;
  entry.parent = stat->parent;
  entry.cpuSeconds = static_cast<double>(stat->userTicks + stat->systemTicks) / ticksPerSecond_;
  entry.childrenCpuSeconds =
      static_cast<double>(stat->childUserTicks + stat->childSystemTicks) / ticksPerSecond_;
  entry.residentBytes = stat->residentPages * pageBytes_;
  return entry;
}

const ProcessTable::Snapshot& ProcessTable::fresh() {
  auto now = std::chrono::steady_clock::now();
  if (!snapshot_.empty() && now - readAt_ < maxAge_) return snapshot_;
  snapshot_.clear();
  readAt_ = now;
  DIR* directory = opendir(procRoot_.c_str());
  if (directory == nullptr) return snapshot_;
  while (dirent* item = readdir(directory)) {
    auto pid = pidOf(item->d_name);
    if (!pid) continue;
    if (auto entry = readStat(*pid)) snapshot_.emplace(*pid, *entry);  // gone meanwhile: skipped
  }
  closedir(directory);
  return snapshot_;
}

std::optional<pid_t> ProcessTable::parentOf(pid_t pid) {
  // Asked once per job, right after it started: read it directly rather than
  // from a snapshot that may predate the process.
  auto entry = readStat(pid);
  if (!entry) return std::nullopt;
  return entry->parent;
}

void ProcessTable::addFilesAndIo(pid_t pid, TreeUsage& usage) const {
  std::string base = procRoot_ + "/" + std::to_string(pid);
  bool readable = true;
  if (DIR* fds = opendir((base + "/fd").c_str())) {
    while (dirent* item = readdir(fds))
      if (item->d_name[0] != '.') ++usage.openFiles;
    closedir(fds);
  } else {
    readable = false;
  }
  std::string io;
  if (readFile(base + "/io", io) && !io.empty()) {
    std::istringstream lines(io);
    for (std::string key; lines >> key;) {
      std::uint64_t value = 0;
      lines >> value;
      if (key == "read_bytes:") usage.readBytes += value;
      if (key == "write_bytes:") usage.writeBytes += value;
    }
  } else {
    readable = false;
  }
  if (!readable) ++usage.unreadable;
}

void ProcessTable::addCgroup(pid_t member, TreeUsage& usage) const {
  if (cgroupMount_.empty()) return;
  std::string listing;
  if (!readFile(procRoot_ + "/" + std::to_string(member) + "/cgroup", listing)) return;
  std::string path = plugin_common::cgroup2PathIn(listing);
  // Only a job's own cgroup: anything else holds more than the job.
  if (path.find("/hive-jobs/job-") == std::string::npos || path.find("..") != std::string::npos) return;
  std::string directory = cgroupMount_ + path;
  std::string stat;
  if (!readFile(directory + "/cpu.stat", stat)) return;
  std::istringstream fields(stat);
  for (std::string key; fields >> key;) {
    std::uint64_t value = 0;
    fields >> value;
    if (key == "usage_usec") usage.cpuSeconds = static_cast<double>(value) / 1e6;
  }
  usage.cgroup = path;
  usage.cgroupMemoryBytes = readNumber(directory + "/memory.current");
  usage.cgroupPeakMemoryBytes = readNumber(directory + "/memory.peak");
}

std::optional<TreeUsage> ProcessTable::treeUnder(pid_t root) {
  std::vector<pid_t> members;
  TreeUsage usage;
  {
    std::lock_guard lock(mutex_);
    const Snapshot& table = fresh();
    auto top = table.find(root);
    if (top == table.end()) return std::nullopt;
    usage.cpuSeconds = top->second.childrenCpuSeconds;
    std::multimap<pid_t, pid_t> children;
    for (const auto& [pid, entry] : table) children.emplace(entry.parent, pid);
    std::vector<pid_t> pending{root};
    while (!pending.empty()) {
      pid_t parent = pending.back();
      pending.pop_back();
      auto [from, to] = children.equal_range(parent);
      for (auto it = from; it != to; ++it) {
        const Entry& entry = table.at(it->second);
        ++usage.processes;
        usage.cpuSeconds += entry.cpuSeconds + entry.childrenCpuSeconds;
        usage.residentBytes += entry.residentBytes;
        members.push_back(it->second);
        pending.push_back(it->second);
      }
    }
  }
  for (pid_t pid : members) addFilesAndIo(pid, usage);
  if (!members.empty()) addCgroup(members.front(), usage);
  return usage;
}

}  // namespace hive::resource_manager
