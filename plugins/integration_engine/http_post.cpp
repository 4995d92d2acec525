#include "http_post.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>

#include "plugin_common/http_client.hpp"

namespace hive::integration_engine {
namespace {

bool isPublicV4(std::uint32_t address) {
  auto in = [address](std::uint32_t network, int bits) {
    std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
    return (address & mask) == network;
  };
  return !(in(0x00000000, 8) || in(0x0A000000, 8) || in(0x64400000, 10) || in(0x7F000000, 8) ||
           in(0xA9FE0000, 16) || in(0xAC100000, 12) || in(0xC0000000, 24) || in(0xC0A80000, 16) ||
           in(0xC6120000, 15) || in(0xE0000000, 4) || in(0xF0000000, 4));
}

bool isPublic(const sockaddr* address) {
  if (address->sa_family == AF_INET)
    return isPublicV4(ntohl(reinterpret_cast<const sockaddr_in*>(address)->sin_addr.s_addr));
  if (address->sa_family != AF_INET6) return false;
  const auto* bytes = reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr.s6_addr;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (std::memcmp(bytes, kMapped, 12) == 0)
    return isPublicV4(std::uint32_t{bytes[12]} << 24 | std::uint32_t{bytes[13]} << 16 |
                      std::uint32_t{bytes[14]} << 8 | bytes[15]);
  bool leadingZeros = true;  // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d
  for (int i = 0; i < 12; ++i) leadingZeros = leadingZeros && bytes[i] == 0;
  if (leadingZeros) return false;
  if ((bytes[0] & 0xFE) == 0xFC) return false;                      // fc00::/7 unique local
  if (bytes[0] == 0xFE && (bytes[1] & 0xC0) == 0x80) return false;  // fe80::/10 link local
  if (bytes[0] == 0xFF) return false;                               // multicast
  if (bytes[0] == 0x00 && bytes[1] == 0x64 && bytes[2] == 0xFF && bytes[3] == 0x9B) return false;  // NAT64
  return true;
}

std::string describe(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (address->sa_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, text, sizeof text);
  else if (address->sa_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, text, sizeof text);
  return text;
}

Status refusal(const Url& url, const sockaddr* address) {
  return Status(StatusCode::kPermissionDenied,
                url.host + " resolves to " + describe(address) +
                    ", a private, loopback or link-local address (outbound.allow_private_targets is false)");
}

}  // namespace

Status checkDestination(const Url& url, AddressPolicy policy) {
  plugin_common::ResolvedAddresses addresses;
  HIVE_TRY(addresses.resolve(url.host, url.port));
  if (policy == AddressPolicy::kAny) return okStatus();
  for (addrinfo* a = addresses.head(); a != nullptr; a = a->ai_next)
    if (!isPublic(a->ai_addr)) return refusal(url, a->ai_addr);
  return okStatus();
}

Result<int> post(const Url& url, AddressPolicy policy, const std::vector<http::Header>& headers,
                 const std::string& body, std::chrono::milliseconds timeout, const std::string& caFile) {
  // The address checked is the one connected to, so a name that resolves
  // elsewhere later is caught.
  return plugin_common::postJson(url, "hive-integration-engine", headers, body,
                                 std::chrono::steady_clock::now() + timeout, caFile,
                                 [&](const sockaddr* address) {
                                   if (policy == AddressPolicy::kPublicOnly && !isPublic(address))
                                     return refusal(url, address);
                                   return okStatus();
                                 });
}

}  // namespace hive::integration_engine
