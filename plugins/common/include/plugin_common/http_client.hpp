// A blocking HTTP/1.1 POST-style exchange for in-tree plugins that call out
// (monitoring_engine's alert webhooks, integration_engine's outbound
// webhooks): resolve, connect to the first address that answers, send a whole
// request, read the status line, all within one deadline. No redirect is ever
// followed: the status is the answer. Header-only, not part of the SDK.
#pragma once

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "hive/status.hpp"

namespace hive::plugin_common {

using HttpDeadline = std::chrono::steady_clock::time_point;

// The addresses of host:port; freed with it.
class ResolvedAddresses {
 public:
  ResolvedAddresses() = default;
  ~ResolvedAddresses() {
    if (head_ != nullptr) ::freeaddrinfo(head_);
  }
  ResolvedAddresses(const ResolvedAddresses&) = delete;
  ResolvedAddresses& operator=(const ResolvedAddresses&) = delete;

  // getaddrinfo has no timeout of its own: targets are meant to be addresses
  // or names the resolver answers at once (/etc/hosts, a local cache).
  Status resolve(const std::string& host, const std::string& port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (int error = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &head_); error != 0)
      return unavailable("resolving " + host + ": " + ::gai_strerror(error));
    return okStatus();
  }
  addrinfo* head() const { return head_; }

 private:
  addrinfo* head_ = nullptr;
};

namespace detail {

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

inline bool waitFor(int fd, short events, HttpDeadline deadline) {
  pollfd entry{fd, events, 0};
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
            .count();
    int ready = ::poll(&entry, 1, left > 0 ? static_cast<int>(left) : 0);
    if (ready > 0) return true;
    if (ready == 0 || errno != EINTR) return false;
  }
}

}  // namespace detail

// Sends `request` (a complete HTTP/1.1 request, `Connection: close`) to the
// first of `addresses` that accepts a connection and returns the answer's
// status code. `allow` may refuse an address before any connection to it (its
// error is returned). Errors: kUnavailable (no connection, a socket error, not
// an HTTP answer), kDeadlineExceeded (past `deadline`).
inline Result<int> exchangeHttp(const ResolvedAddresses& addresses, const std::string& host,
                                const std::string& port, const std::string& request, HttpDeadline deadline,
                                const std::function<Status(const sockaddr*)>& allow = {}) {
  using detail::waitFor;
  std::string lastError = "no address";
  int connected = -1;
  for (addrinfo* a = addresses.head(); a != nullptr && connected < 0; a = a->ai_next) {
    if (allow)
      if (Status allowed = allow(a->ai_addr); !allowed.ok()) return allowed;
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
  if (connected < 0) return unavailable("connecting to " + host + ":" + port + ": " + lastError);
  detail::Socket socket(connected);

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
    if (n > 0) {
      head.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EAGAIN && errno != EINTR) {
      return unavailable(std::string("reading: ") + std::strerror(errno));
    }
  }
  // "HTTP/1.1 204 No Content"
  std::size_t space = head.find(' ');
  if (head.rfind("HTTP/1.", 0) != 0 || space == std::string::npos || head.size() < space + 4)
    return unavailable("not an HTTP answer");
  int status = std::atoi(head.substr(space + 1, 3).c_str());
  if (status < 100 || status > 599) return unavailable("not an HTTP answer");
  return status;
}

}  // namespace hive::plugin_common
