// For tests of the plugins that ask hive.admission/1: a gate closed or open at
// the test's word, whose refusal names the kind of work it refused.
#pragma once

#include <atomic>
#include <chrono>

#include "hive/services/admission.hpp"

namespace hive::plugin_common {

class SwitchedGate final : public admission::Gate {
 public:
  admission::Verdict admit(const admission::Work& work) override {
    if (!closed.load()) return {};
    return {false, "Hive is saturated: test (" + work.kind + ")", std::chrono::seconds(3)};
  }
  std::atomic<bool> closed{true};
};

}  // namespace hive::plugin_common
