// Figures as resource_manager's messages write them: "210.9 MiB", "3.5 s".
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace hive::resource_manager {

inline std::string mebibytes(std::uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

inline std::string secondsText(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", seconds);
  return text;
}

}  // namespace hive::resource_manager
