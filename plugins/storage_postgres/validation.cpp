#include "validation.hpp"

namespace hive::storage_postgres {
namespace {

bool isLower(char c) { return c >= 'a' && c <= 'z'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

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

Status checkName(const std::string& name, const char* what) {
  bool ok = !name.empty() && name.size() <= 63 && isLower(name[0]);
  for (std::size_t i = 1; ok && i < name.size(); ++i) {
    char c = name[i];
    ok = isLower(c) || isDigit(c) || c == '_' || c == '.' || c == '-';
  }
  if (ok) return okStatus();
  std::string shown = name.size() > 80 ? name.substr(0, 80) + "..." : name;
  return invalidArgument(std::string(what) + " name '" + shown + "' must match [a-z][a-z0-9_.-]{0,62}");
}

Status checkId(const std::string& id, const char* what) {
  if (id.empty() || id.size() > 128)
    return invalidArgument(std::string(what) + " id must be 1..128 characters, got " +
                           std::to_string(id.size()));
  for (char c : id)
    if (c < 0x20 || c > 0x7e) return invalidArgument(std::string(what) + " id must be printable ASCII");
  return okStatus();
}

Status checkFieldName(const std::string& field) {
  bool ok = !field.empty() && field.size() <= 63 && isLower(field[0]);
  for (std::size_t i = 1; ok && i < field.size(); ++i)
    ok = isLower(field[i]) || isDigit(field[i]) || field[i] == '_';
  if (ok) return okStatus();
  return invalidArgument("index field name '" + field +
                         "' must match [a-z][a-z0-9_]* (at most 63 characters)");
}

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
