#include "host_usage.hpp"

#include <fstream>
#include <thread>

namespace hive::resource_manager {

HostUsage readHostUsage(const std::string& procRoot) {
  HostUsage host;
  host.cpus = std::thread::hardware_concurrency();
  std::ifstream load(procRoot + "/loadavg");
  load >> host.load[0] >> host.load[1] >> host.load[2];
  std::ifstream memory(procRoot + "/meminfo");
  std::string key, unit;
  std::uint64_t kib = 0;
  while (memory >> key >> kib) {
    std::getline(memory, unit);
    if (key == "MemTotal:") host.memoryTotalBytes = kib * 1024;
    if (key == "MemAvailable:") host.memoryAvailableBytes = kib * 1024;
  }
  return host;
}

}  // namespace hive::resource_manager
