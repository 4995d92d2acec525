// Blocking HTTP/1.1 and WebSocket clients for the api tests: raw POSIX sockets
// (so that malformed requests can be sent byte for byte) and Beast's WebSocket
// client from the kernel's Asio runtime. Every wait is bounded.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace hive::api_test {

struct HttpReply {
  int status = 0;                              // 0: no (complete) response
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  bool closed = false;  // the server closed the connection after it

  std::string header(const std::string& name) const {
    auto found = headers.find(name);
    return found == headers.end() ? std::string() : found->second;
  }
};

class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    int one = 1;
    if (fd_ >= 0) ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~RawConnection() { close(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool ok() const { return fd_ >= 0; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads one response (Content-Length framed, or until close).
  HttpReply read(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    HttpReply reply;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t headEnd;
    while ((headEnd = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(deadline)) {
        reply.closed = true;
        return reply;
      }
    }
    std::string head = pending_.substr(0, headEnd);
    pending_.erase(0, headEnd + 4);
    std::size_t lineEnd = head.find("\r\n");
    std::string statusLine = head.substr(0, lineEnd);
    if (statusLine.size() >= 12) reply.status = std::atoi(statusLine.c_str() + 9);
    std::size_t position = lineEnd == std::string::npos ? head.size() : lineEnd + 2;
    while (position < head.size()) {
      std::size_t end = head.find("\r\n", position);
      if (end == std::string::npos) end = head.size();
      std::string line = head.substr(position, end - position);
      std::size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        reply.headers[name] = value;
      }
      position = end + 2;
    }
    std::size_t length = 0;
    bool framed = reply.headers.count("content-length") != 0;
    if (framed) length = std::stoul(reply.headers["content-length"]);
    if (reply.status == 204 || reply.status == 304 || reply.status == 101) framed = true;
    if (framed) {
      while (pending_.size() < length)
        if (!fill(deadline)) {
          reply.status = 0;
          return reply;
        }
      reply.body = pending_.substr(0, length);
      pending_.erase(0, length);
    } else {
      while (fill(deadline)) {
      }
      reply.body = std::move(pending_);
      pending_.clear();
    }
    std::string connection = reply.header("connection");
    for (auto& c : connection) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (connection == "close") reply.closed = peerClosed(std::chrono::seconds(5));
    return reply;
  }

  // True when the server closes (EOF or reset) within `timeout`.
  bool peerClosed(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      int ready = ::poll(&p, 1, 50);
      if (ready > 0) {
        char buffer[4096];
        ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
        if (n <= 0) return true;
        pending_.append(buffer, static_cast<std::size_t>(n));
      }
    }
    return false;
  }

  int fd() const { return fd_; }

 private:
  bool fill(std::chrono::steady_clock::time_point deadline) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    pollfd p{fd_, POLLIN, 0};
    int wait =
        static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count());
    if (::poll(&p, 1, wait) <= 0) return false;
    char buffer[16384];
    ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n <= 0) return false;
    pending_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string pending_;
};

// One request on a fresh connection.
inline HttpReply request(std::uint16_t port, const std::string& method, const std::string& target,
                         const std::string& extraHeaders = {}, const std::string& body = {}) {
  RawConnection connection(port);
  std::string text = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n" + extraHeaders;
  if (!body.empty() || method == "POST") text += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  text += "\r\n" + body;
  if (!connection.send(text)) return {};
  return connection.read();
}

inline std::size_t openFds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

}  // namespace hive::api_test
