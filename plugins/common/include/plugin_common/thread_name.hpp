// Names the calling thread as `top -H`, `ps -L`, perf and gdb show it, as the
// kernel names its own (`hive-io-<n>`, `hive-block-<n>`): a plugin's long-lived
// thread says what it is. Linux keeps at most 15 characters.
#pragma once

#include <pthread.h>

#include <string>
#include <string_view>

namespace hive::plugin_common {

inline void nameThisThread(std::string_view name) {
  std::string kept(name.substr(0, 15));
  pthread_setname_np(pthread_self(), kept.c_str());
}

}  // namespace hive::plugin_common
