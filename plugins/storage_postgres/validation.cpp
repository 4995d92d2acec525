#include "validation.hpp"

namespace hive::storage_postgres {
namespace {

bool isValidUtf8WithoutNul(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto byte = static_cast<unsigned char>(text[i]);
    if (byte == 0) return false;
    std::size_t length = byte < 0x80           ? 1
                         : (byte >> 5) == 0x6  ? 2
                         : (byte >> 4) == 0xE  ? 3
                         : (byte >> 3) == 0x1E ? 4
                                               : 0;
    if (length == 0 || i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k)
      if ((static_cast<unsigned char>(text[i + k]) >> 6) != 0x2) return false;
    i += length;
  }
  return true;
}

}  // namespace

Status checkShortText(const std::string& text, const char* what, std::size_t maxBytes) {
  if (text.size() > maxBytes)
    return invalidArgument(std::string(what) + " is " + std::to_string(text.size()) + " bytes, at most " +
                           std::to_string(maxBytes) + " allowed");
  return okStatus();
}

Status checkIndexValue(const std::string& field, const std::string& value) {
  if (value.size() > 1024) return invalidArgument("index value of '" + field + "' is longer than 1024 bytes");
  if (!isValidUtf8WithoutNul(value))
    return invalidArgument("index value of '" + field + "' must be UTF-8 text without NUL bytes");
  return okStatus();
}

Status checkLease(std::chrono::milliseconds lease) {
  if (lease.count() <= 0 || lease > std::chrono::hours(24 * 7))
    return invalidArgument("lease must be between 1ms and 7 days");
  return okStatus();
}

Status checkEnqueue(const store::EnqueueRequest& request, const Limits& limits) {
  HIVE_TRY(checkName(request.queue, "queue"));
  if (!request.id.empty()) HIVE_TRY(checkId(request.id, "item"));
  if (request.priority < 1 || request.priority > 10)
    return invalidArgument("priority must be 1..10, got " + std::to_string(request.priority));
  if (request.payload.size() > limits.maxPayloadBytes)
    return invalidArgument("payload is " + std::to_string(request.payload.size()) + " bytes, at most " +
                           std::to_string(limits.maxPayloadBytes) + " allowed (max_payload_bytes)");
  HIVE_TRY(checkShortText(request.idempotencyKey, "idempotency key", 256));
  if (request.notBeforeMs < 0) return invalidArgument("notBeforeMs must not be negative");
  return okStatus();
}

Status checkClaim(const store::ClaimRequest& request) {
  HIVE_TRY(checkName(request.queue, "queue"));
  HIVE_TRY(checkShortText(request.claimant, "claimant", 256));
  HIVE_TRY(checkLease(request.lease));
  if (request.maxItems < 1 || request.maxItems > 1000)
    return invalidArgument("maxItems must be 1..1000, got " + std::to_string(request.maxItems));
  if (request.minPriority < 1 || request.minPriority > 10)
    return invalidArgument("minPriority must be 1..10, got " + std::to_string(request.minPriority));
  return okStatus();
}

}  // namespace hive::storage_postgres
