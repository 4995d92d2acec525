// The W3C trace context (`traceparent`) a task carries: the submitting
// request's, which the api passes through when it is well formed
// (plugins/api/dispatcher.cpp), or a new trace started here, so that every
// task has one. It is on the task as the API shows it, hence in its events
// and in the task.assign an agent receives (docs/observability.md §11).
#pragma once

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>

#include "hive/services/http.hpp"

namespace hive::task_manager {

inline std::string newTraceparent() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  std::uint64_t trace[2] = {random() | 1, random()};  // an all-zero id is invalid
  std::uint64_t span = random() | 1;
  char text[56];
  std::snprintf(text, sizeof text, "00-%016llx%016llx-%016llx-01", static_cast<unsigned long long>(trace[0]),
                static_cast<unsigned long long>(trace[1]), static_cast<unsigned long long>(span));
  return text;
}

inline std::string traceparentOf(const http::Request& request) {
  const std::string* header = request.header("traceparent");
  return header != nullptr && header->size() == 55 ? *header : newTraceparent();
}

}  // namespace hive::task_manager
