#include "http_post.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>

namespace hive::integration_engine {
namespace {

using SteadyClock = std::chrono::steady_clock;

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

struct AddressList {
  addrinfo* head = nullptr;
  ~AddressList() {
    if (head != nullptr) ::freeaddrinfo(head);
  }
};

Status resolve(const Url& url, AddressList& out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  // getaddrinfo has no timeout of its own: targets are meant to be names the
  // resolver answers at once or addresses.
  if (int error = ::getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &out.head); error != 0)
    return unavailable("resolving " + url.host + ": " + ::gai_strerror(error));
  return okStatus();
}

Status refusal(const Url& url, const sockaddr* address) {
  return Status(StatusCode::kPermissionDenied,
                url.host + " resolves to " + describe(address) +
                    ", a private, loopback or link-local address (outbound.allow_private_targets is false)");
}

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

bool waitFor(int fd, short events, SteadyClock::time_point deadline) {
  pollfd entry{fd, events, 0};
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
    int ready = ::poll(&entry, 1, left > 0 ? static_cast<int>(left) : 0);
    if (ready > 0) return true;
    if (ready == 0 || errno != EINTR) return false;
  }
}

bool safeHeader(std::string_view text) { return text.find_first_of("\r\n") == std::string_view::npos; }

}  // namespace

Result<Url> parseUrl(std::string_view text) {
  constexpr std::string_view kScheme = "http://";
  if (text.rfind("https://", 0) == 0)
    return invalidArgument("https targets are not supported yet; use http:// behind a TLS proxy");
  if (text.rfind(kScheme, 0) != 0) return invalidArgument("must start with http://");
  if (!safeHeader(text) || text.find_first_of(" \t") != std::string_view::npos)
    return invalidArgument("must not contain spaces or line breaks");
  std::string_view rest = text.substr(kScheme.size());
  std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  Url url;
  url.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (authority.find('@') != std::string_view::npos)
    return invalidArgument("must not contain user information");
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return invalidArgument("unclosed [ in the host");
    url.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (!authority.empty() && authority.front() != ':') return invalidArgument("bad host");
    url.port = authority.empty() ? "80" : std::string(authority.substr(1));
  } else {
    std::size_t colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    url.port = colon == std::string_view::npos ? "80" : std::string(authority.substr(colon + 1));
  }
  if (url.host.empty()) return invalidArgument("has no host");
  if (url.port.empty() || url.port.size() > 5 ||
      url.port.find_first_not_of("0123456789") != std::string::npos || std::stoi(url.port) == 0 ||
      std::stoi(url.port) > 65535)
    return invalidArgument("has a bad port");
  return url;
}

Status checkDestination(const Url& url, AddressPolicy policy) {
  AddressList addresses;
  HIVE_TRY(resolve(url, addresses));
  if (policy == AddressPolicy::kAny) return okStatus();
  for (addrinfo* a = addresses.head; a != nullptr; a = a->ai_next)
    if (!isPublic(a->ai_addr)) return refusal(url, a->ai_addr);
  return okStatus();
}

Result<int> post(const Url& url, AddressPolicy policy, const std::vector<http::Header>& headers,
                 const std::string& body, std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  AddressList addresses;
  HIVE_TRY(resolve(url, addresses));
  std::string lastError = "no address";
  int connected = -1;
  for (addrinfo* a = addresses.head; a != nullptr && connected < 0; a = a->ai_next) {
    if (policy == AddressPolicy::kPublicOnly && !isPublic(a->ai_addr)) return refusal(url, a->ai_addr);
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0 ||
        (errno == EINPROGRESS && waitFor(fd, POLLOUT, deadline))) {
      int error = 0;
      socklen_t length = sizeof error;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error == 0) {
        connected = fd;
        break;
      }
      lastError = std::strerror(error);
    } else {
      lastError = errno == EINPROGRESS ? "connect timed out" : std::strerror(errno);
    }
    ::close(fd);
  }
  if (connected < 0) return unavailable("connecting to " + url.host + ":" + url.port + ": " + lastError);
  Socket socket(connected);

  std::string request = "POST " + url.target + " HTTP/1.1\r\nHost: " + url.host + ":" + url.port +
                        "\r\nContent-Type: application/json\r\nUser-Agent: hive-integration-engine\r\n"
                        "Connection: close\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n";
  for (const http::Header& header : headers) {
    if (!safeHeader(header.name) || !safeHeader(header.value))
      return invalidArgument("line break in a header");
    request += header.name + ": " + header.value + "\r\n";
  }
  request += "\r\n";
  request += body;
  std::size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(socket.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!waitFor(socket.get(), POLLOUT, deadline)) return deadlineExceeded("sending: timed out");
    } else {
      return unavailable(std::string("sending: ") + std::strerror(errno));
    }
  }
  std::string head;
  char buffer[512];
  while (head.find("\r\n") == std::string::npos && head.size() < 4096) {
    if (!waitFor(socket.get(), POLLIN, deadline))
      return deadlineExceeded("waiting for the answer: timed out");
    ssize_t n = ::recv(socket.get(), buffer, sizeof buffer, 0);
    if (n > 0)
      head.append(buffer, static_cast<std::size_t>(n));
    else if (n == 0)
      break;
    else if (errno != EAGAIN && errno != EINTR)
      return unavailable(std::string("reading: ") + std::strerror(errno));
  }
  std::size_t space = head.find(' ');
  if (head.rfind("HTTP/1.", 0) != 0 || space == std::string::npos || head.size() < space + 4)
    return unavailable("not an HTTP answer");
  int status = std::atoi(head.substr(space + 1, 3).c_str());
  if (status < 100 || status > 599) return unavailable("not an HTTP answer");
  return status;
}

}  // namespace hive::integration_engine
