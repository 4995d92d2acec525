// The host as /proc shows it: CPUs, load, memory. Read per request.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace hive::resource_manager {

struct HostUsage {
  unsigned cpus = 0;
  std::array<double, 3> load{};  // 1, 5, 15 minutes
  std::uint64_t memoryTotalBytes = 0;
  std::uint64_t memoryAvailableBytes = 0;
};

HostUsage readHostUsage(const std::string& procRoot = "/proc");

}  // namespace hive::resource_manager
