// A blocking HTTP/1.1 POST-style exchange for in-tree plugins that call out
// (monitoring_engine's alert webhooks, integration_engine's outbound
// webhooks): resolve, connect to the first address that answers, (for https)
// a verified TLS handshake, send a whole request, read the status line, all
// within one deadline. No redirect is ever followed: the status is the answer.
// Header-only, not part of the SDK; a plugin that calls exchangeHttp links
// OpenSSL::SSL.
#pragma once

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "hive/services/http.hpp"
#include "hive/status.hpp"
#include "plugin_common/http_url.hpp"

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

// What an https exchange trusts: the certificates of `caFile` (a PEM bundle),
// or the system's store (/etc/ssl/certs) when it is empty. The server's
// certificate must chain to one of them and name the host (DNS name or IP
// address) of the URL; TLS 1.2 at least.
struct TlsTrust {
  std::string caFile;
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

inline std::string tlsErrorText() {
  unsigned long code = ERR_get_error();
  if (code == 0) return "the connection closed during the TLS handshake";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return text;
}

// A connected non-blocking socket, plain or TLS.
class Channel {
 public:
  explicit Channel(int fd) : socket_(fd) {}

  Status startTls(const std::string& host, const TlsTrust& trust, HttpDeadline deadline) {
    ERR_clear_error();
    context_.reset(SSL_CTX_new(TLS_client_method()));
    if (!context_) return unavailable("TLS: " + tlsErrorText());
    SSL_CTX_set_min_proto_version(context_.get(), TLS1_2_VERSION);
    SSL_CTX_set_options(context_.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_verify(context_.get(), SSL_VERIFY_PEER, nullptr);
    int loaded = trust.caFile.empty()
                     ? SSL_CTX_set_default_verify_paths(context_.get())
                     : SSL_CTX_load_verify_locations(context_.get(), trust.caFile.c_str(), nullptr);
    if (loaded != 1)
      return unavailable("TLS: cannot load the trusted certificates" +
                         (trust.caFile.empty() ? std::string() : " of " + trust.caFile) + ": " +
                         tlsErrorText());
    tls_.reset(SSL_new(context_.get()));
    if (!tls_ || SSL_set_fd(tls_.get(), socket_.get()) != 1) return unavailable("TLS: " + tlsErrorText());
    unsigned char address[16];
    bool literal =
        ::inet_pton(AF_INET, host.c_str(), address) == 1 || ::inet_pton(AF_INET6, host.c_str(), address) == 1;
    bool named = literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tls_.get()), host.c_str()) == 1
                         : SSL_set_tlsext_host_name(tls_.get(), host.c_str()) == 1 &&
                               SSL_set1_host(tls_.get(), host.c_str()) == 1;
    if (!named) return unavailable("TLS: bad host name " + host);
    for (;;) {
      int done = SSL_connect(tls_.get());
      if (done == 1) return okStatus();
      if (Status waited = waitTls(done, deadline, "TLS handshake"); !waited.ok()) {
        long verified = SSL_get_verify_result(tls_.get());
        if (verified != X509_V_OK)
          return unavailable("TLS: the certificate of " + host +
                             " is not trusted: " + X509_verify_cert_error_string(verified));
        return waited;
      }
    }
  }

  Status sendAll(const std::string& data, HttpDeadline deadline) {
    std::size_t sent = 0;
    while (sent < data.size()) {
      if (tls_) {
        int n = SSL_write(tls_.get(), data.data() + sent, static_cast<int>(data.size() - sent));
        if (n > 0)
          sent += static_cast<std::size_t>(n);
        else
          HIVE_TRY(waitTls(n, deadline, "sending"));
        continue;
      }
      ssize_t n = ::send(socket_.get(), data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!waitFor(socket_.get(), POLLOUT, deadline)) return deadlineExceeded("sending: timed out");
      } else {
        return unavailable(std::string("sending: ") + std::strerror(errno));
      }
    }
    return okStatus();
  }

  // Some bytes into `buffer`; 0 at the end of the stream.
  Result<std::size_t> receive(char* buffer, std::size_t size, HttpDeadline deadline) {
    for (;;) {
      if (tls_) {
        int n = SSL_read(tls_.get(), buffer, static_cast<int>(size));
        if (n > 0) return static_cast<std::size_t>(n);
        if (SSL_get_error(tls_.get(), n) == SSL_ERROR_ZERO_RETURN) return std::size_t{0};
        HIVE_TRY(waitTls(n, deadline, "reading"));
        continue;
      }
      if (!waitFor(socket_.get(), POLLIN, deadline))
        return deadlineExceeded("waiting for the answer: timed out");
      ssize_t n = ::recv(socket_.get(), buffer, size, 0);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EAGAIN && errno != EINTR)
        return unavailable(std::string("reading: ") + std::strerror(errno));
    }
  }

 private:
  // After an SSL call that returned `result` <= 0: waits for what it wants, or
  // the error.
  Status waitTls(int result, HttpDeadline deadline, const char* what) {
    switch (SSL_get_error(tls_.get(), result)) {
      case SSL_ERROR_WANT_READ:
        if (!waitFor(socket_.get(), POLLIN, deadline))
          return deadlineExceeded(std::string(what) + ": timed out");
        return okStatus();
      case SSL_ERROR_WANT_WRITE:
        if (!waitFor(socket_.get(), POLLOUT, deadline))
          return deadlineExceeded(std::string(what) + ": timed out");
        return okStatus();
      default: return unavailable(std::string(what) + ": " + tlsErrorText());
    }
  }

  struct FreeContext {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  };
  struct FreeTls {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  // Declared first: destroyed last, after the TLS state that refers to it.
  Socket socket_;
  std::unique_ptr<SSL_CTX, FreeContext> context_;
  std::unique_ptr<SSL, FreeTls> tls_;
};

}  // namespace detail

// Sends `request` (a complete HTTP/1.1 request, `Connection: close`) to the
// first of `addresses` that accepts a connection and returns the answer's
// status code. `allow` may refuse an address before any connection to it (its
// error is returned). With `tls` (https), the request goes over TLS verified
// as TlsTrust says. Errors: kUnavailable (no connection, a socket or TLS error,
// an untrusted certificate, not an HTTP answer), kDeadlineExceeded (past
// `deadline`).
inline Result<int> exchangeHttp(const ResolvedAddresses& addresses, const std::string& host,
                                const std::string& port, const std::string& request, HttpDeadline deadline,
                                const std::function<Status(const sockaddr*)>& allow = {},
                                const TlsTrust* tls = nullptr) {
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
  detail::Channel channel(connected);
  if (tls != nullptr) HIVE_TRY(channel.startTls(host, *tls, deadline));
  HIVE_TRY(channel.sendAll(request, deadline));
  std::string head;
  char buffer[512];
  while (head.find("\r\n") == std::string::npos && head.size() < 4096) {
    std::size_t n = HIVE_TRY(channel.receive(buffer, sizeof buffer, deadline));
    if (n == 0) break;
    head.append(buffer, n);
  }
  // "HTTP/1.1 204 No Content"
  std::size_t space = head.find(' ');
  if (head.rfind("HTTP/1.", 0) != 0 || space == std::string::npos || head.size() < space + 4)
    return unavailable("not an HTTP answer");
  int status = std::atoi(head.substr(space + 1, 3).c_str());
  if (status < 100 || status > 599) return unavailable("not an HTTP answer");
  return status;
}

// POSTs the JSON `body` to `url` with `headers` (`Connection: close`), over
// TLS trusting `caFile` (TlsTrust) when the URL is https, all within
// `deadline`; the answer's status code. kInvalidArgument for a line break in
// a header; otherwise as exchangeHttp().
inline Result<int> postJson(const HttpUrl& url, std::string_view userAgent,
                            const std::vector<http::Header>& headers, const std::string& body,
                            HttpDeadline deadline, const std::string& caFile = {},
                            const std::function<Status(const sockaddr*)>& allow = {}) {
  auto safe = [](std::string_view text) { return text.find_first_of("\r\n") == std::string_view::npos; };
  std::string request = "POST " + url.target + " HTTP/1.1\r\nHost: " + url.host + ":" + url.port +
                        "\r\nContent-Type: application/json\r\nUser-Agent: " + std::string(userAgent) +
                        "\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  for (const http::Header& header : headers) {
    if (!safe(header.name) || !safe(header.value)) return invalidArgument("line break in a header");
    request += header.name + ": " + header.value + "\r\n";
  }
  request += "\r\n";
  request += body;
  ResolvedAddresses addresses;
  HIVE_TRY(addresses.resolve(url.host, url.port));
  TlsTrust trust{caFile};
  return exchangeHttp(addresses, url.host, url.port, request, deadline, allow, url.tls ? &trust : nullptr);
}

}  // namespace hive::plugin_common
