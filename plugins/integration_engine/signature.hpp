// HMAC-SHA256 signatures of webhook bodies, both ways.
//
// Hive's own scheme ("generic"), used for deliveries out and accepted in:
//   X-Hive-Timestamp: <Unix seconds>
//   X-Hive-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
// The timestamp is inside the signed text, so a captured request cannot be
// replayed outside the tolerance window with a fresh timestamp. GitHub's
// scheme signs the body alone (X-Hub-Signature-256: sha256=<hex>); it has no
// timestamp, and the delivery id (idempotency) is what stops a replay there.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "hive/services/http.hpp"
#include "hive/status.hpp"

namespace hive::integration_engine {

enum class SignatureScheme { kGeneric, kGithub };

std::string hmacSha256Hex(std::string_view key, std::string_view message);

// Compares in time that depends on the lengths only.
bool constantTimeEquals(std::string_view a, std::string_view b);

// "sha256=<hex>" for Hive's scheme.
std::string signGeneric(std::string_view secret, std::int64_t timestampSeconds, std::string_view body);

// kUnauthenticated with the reason (never the secret or the expected value)
// when `request` does not carry a valid signature of its body.
Status verify(SignatureScheme scheme, std::string_view secret, const http::Request& request,
              std::int64_t nowSeconds, std::chrono::seconds tolerance);

}  // namespace hive::integration_engine
