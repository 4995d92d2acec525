// hive.admission/1 (SDK 2.7) — whether new work may enter now. Provided by
// the plugin that watches the host's load (resource_manager); asked by the
// plugins that accept work from clients (task_manager for POST
// /api/v2/tasks) before they store it. A refusal becomes 503 with its reason
// and a Retry-After header, so that a saturated Hive sheds load at the door
// instead of growing a queue without bound.
//
//   auto gate = context.services().get<hive::admission::Gate>();
//   if (gate.ok())
//     if (auto verdict = (*gate)->admit({"task", tenant, capabilities}); !verdict.admitted)
//       return refuse503(verdict.reason, verdict.retryAfter);
//
// Without a provider everything is admitted.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "hive/services.hpp"

namespace hive::admission {

// What asks to come in.
struct Work {
  std::string kind;                       // "task" today
  std::string tenant;                     // the submitter's tenant ("" the default one)
  std::vector<std::string> capabilities;  // what the work requires
};

struct Verdict {
  bool admitted = true;
  std::string reason;                  // when refused: which limit, and the figures
  std::chrono::seconds retryAfter{0};  // when refused: when to try again (at least 1 s)
};

class Gate : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.admission", 1};

  // Called on request paths for every piece of new work: answer from memory
  // (a state sampled beforehand), never block, never touch a store or server.
  // Thread-safe.
  virtual Verdict admit(const Work& work) = 0;
};

}  // namespace hive::admission
