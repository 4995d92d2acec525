// The answer to new work while hive.admission/1 (resource_manager) refuses it:
// 503 problem+json with Retry-After, the reason naming the limit crossed.
// Asked by the plugins that accept work from clients, before they store it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "hive/services.hpp"
#include "hive/services/admission.hpp"
#include "hive/services/http.hpp"

namespace hive::plugin_common {

// nullopt when the work may come in, or when no provider runs.
inline std::optional<http::Response> admissionRefusal(ServiceRegistry& services,
                                                      const admission::Work& work) {
  auto gate = services.get<admission::Gate>();
  if (!gate.ok()) return std::nullopt;
  admission::Verdict verdict = (*gate)->admit(work);
  if (verdict.admitted) return std::nullopt;
  http::Response response = http::problem(503, "Service Unavailable", verdict.reason);
  response.headers.push_back(
      {"retry-after", std::to_string(std::max<std::int64_t>(1, verdict.retryAfter.count()))});
  return response;
}

}  // namespace hive::plugin_common
