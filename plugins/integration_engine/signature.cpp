#include "signature.hpp"

#include <charconv>

#include <openssl/crypto.h>
#include <openssl/hmac.h>

namespace hive::integration_engine {

namespace {
Status unauthenticated(std::string message) { return {StatusCode::kUnauthenticated, std::move(message)}; }
}  // namespace

std::string hmacSha256Hex(std::string_view key, std::string_view message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  ::HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &size);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xF];
  }
  ::OPENSSL_cleanse(digest, sizeof digest);
  return hex;
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return ::CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string signGeneric(std::string_view secret, std::int64_t timestampSeconds, std::string_view body) {
  std::string message = std::to_string(timestampSeconds);
  message += '.';
  message.append(body);
  return "sha256=" + hmacSha256Hex(secret, message);
}

Status verify(SignatureScheme scheme, std::string_view secret, const http::Request& request,
              std::int64_t nowSeconds, std::chrono::seconds tolerance) {
  if (scheme == SignatureScheme::kGithub) {
    const std::string* signature = request.header("x-hub-signature-256");
    if (signature == nullptr) return unauthenticated("no X-Hub-Signature-256 header");
    std::string expected = "sha256=" + hmacSha256Hex(secret, request.body);
    if (!constantTimeEquals(*signature, expected)) return unauthenticated("bad signature");
    return okStatus();
  }
  const std::string* signature = request.header("x-hive-signature");
  const std::string* timestamp = request.header("x-hive-timestamp");
  if (signature == nullptr || timestamp == nullptr)
    return unauthenticated("no X-Hive-Signature or X-Hive-Timestamp header");
  std::int64_t sent = 0;
  const char* end = timestamp->data() + timestamp->size();
  auto [ptr, ec] = std::from_chars(timestamp->data(), end, sent);
  if (timestamp->empty() || ec != std::errc() || ptr != end)
    return unauthenticated("X-Hive-Timestamp is not Unix seconds");
  // Checked before the signature, yet only after it would a stale request be
  // told apart from a forged one: both get the same 401 and the audit says which.
  std::int64_t skew = nowSeconds > sent ? nowSeconds - sent : sent - nowSeconds;
  if (!constantTimeEquals(*signature, signGeneric(secret, sent, request.body)))
    return unauthenticated("bad signature");
  if (skew > tolerance.count())
    return unauthenticated("timestamp " + std::to_string(skew) + " s away from now (tolerance " +
                           std::to_string(tolerance.count()) + " s): a replay, or a clock off");
  return okStatus();
}

}  // namespace hive::integration_engine
