// Wall-clock milliseconds and the time-ordered ids the task and agent records
// use. Header-only, shared by in-tree plugins (not part of the SDK).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>

namespace hive::plugin_common {

// Milliseconds since the Unix epoch.
inline std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// `prefix`, 12 hex digits of nowMs() and 8 random hex digits: ids sort by
// creation time, and two made in the same millisecond differ (with 2^-32
// odds of a clash).
inline std::string timeOrderedId(char prefix) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%c%012llx%08llx", prefix, static_cast<unsigned long long>(nowMs()),
                static_cast<unsigned long long>(random() & 0xffffffffull));
  return buffer;
}

}  // namespace hive::plugin_common
