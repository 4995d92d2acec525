#include "agent_secret.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "plugin_common/hex.hpp"

namespace hive::orchestrator {
namespace {

std::string hex(const unsigned char* bytes, std::size_t size) {
  return plugin_common::hexOf({reinterpret_cast<const char*>(bytes), size});
}

}  // namespace

std::string newAgentSecret() {
  unsigned char bytes[32];
  std::size_t filled = 0;
  while (filled < sizeof bytes) {
    ssize_t got = ::getrandom(bytes + filled, sizeof bytes - filled, 0);
    if (got > 0)
      filled += static_cast<std::size_t>(got);
    else if (errno != EINTR)
      std::abort();  // no kernel CSPRNG: a guessable secret would be worse than stopping
  }
  return hex(bytes, sizeof bytes);
}

std::string secretDigest(std::string_view secret) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(secret.data(), secret.size(), digest, &size, EVP_sha256(), nullptr) != 1)
    std::abort();  // SHA-256 is built into libcrypto; failing here means it is broken
  return hex(digest, size);
}

bool secretMatches(std::string_view secret, std::string_view storedDigest) {
  std::string digest = secretDigest(secret);
  if (storedDigest.size() != digest.size()) return false;
  return CRYPTO_memcmp(digest.data(), storedDigest.data(), digest.size()) == 0;
}

}  // namespace hive::orchestrator
