#include "webhook_sender.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace hive::monitoring_engine {
namespace {

using Clock = std::chrono::steady_clock;

int remainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
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

bool waitFor(int fd, short events, Clock::time_point deadline) {
  pollfd p{fd, events, 0};
  for (;;) {
    int ready = ::poll(&p, 1, remainingMs(deadline));
    if (ready > 0) return true;
    if (ready == 0 || errno != EINTR) return false;
  }
}

}  // namespace

Status postJson(const Webhook& webhook, const std::string& body) {
  const auto deadline = Clock::now() + webhook.timeout;
  // getaddrinfo has no timeout: webhooks are meant to be addresses or names
  // the resolver answers at once (/etc/hosts, a local cache).
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int error = ::getaddrinfo(webhook.host.c_str(), webhook.port.c_str(), &hints, &found); error != 0)
    return unavailable("resolving " + webhook.host + ": " + ::gai_strerror(error));
  std::string lastError = "no address";
  int connected = -1;
  for (addrinfo* a = found; a != nullptr && connected < 0; a = a->ai_next) {
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
  ::freeaddrinfo(found);
  if (connected < 0)
    return unavailable("connecting to " + webhook.host + ":" + webhook.port + ": " + lastError);
  Socket socket(connected);

  std::string request = "POST " + webhook.target + " HTTP/1.1\r\nHost: " + webhook.host + ":" + webhook.port +
                        "\r\nContent-Type: application/json\r\nUser-Agent: hive-monitoring-engine\r\n"
                        "Connection: close\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body;
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
  if (status < 200 || status > 299) return unavailable("answered " + std::to_string(status));
  return okStatus();
}

WebhookSender::WebhookSender(Webhook webhook, Logger& log, Metrics& metrics)
    : webhook_(std::move(webhook)),
      log_(log),
      delivered_(metrics.counter("hive_alert_webhook_deliveries_total",
                                 "Alert transitions a webhook accepted (2xx)", {{"webhook", webhook_.name}})),
      failed_(metrics.counter("hive_alert_webhook_failures_total",
                              "Alert webhook attempts that failed (refused, timed out, not 2xx)",
                              {{"webhook", webhook_.name}})),
      dropped_(
          metrics.counter("hive_alert_webhook_dropped_total",
                          "Alert transitions not delivered: the webhook's queue was full or retries ran out",
                          {{"webhook", webhook_.name}})),
      thread_([this] { run(); }) {}

WebhookSender::~WebhookSender() { stop(); }

bool WebhookSender::enqueue(std::string body) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_ && queue_.size() < webhook_.queue) {
      queue_.push_back(std::move(body));
      wake_.notify_one();
      return true;
    }
  }
  dropped_.increment();
  return false;
}

void WebhookSender::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WebhookSender::run() {
  std::unique_lock lock(mutex_);
  bool complained = false;
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::string body = std::move(queue_.front());
    queue_.pop_front();
    bool delivered = false;
    for (int attempt = 0; attempt <= webhook_.retries && !stopping_; ++attempt) {
      if (attempt > 0) {
        auto backoff = std::chrono::seconds(1) * (1 << std::min(attempt - 1, 5));
        if (wake_.wait_for(lock, backoff, [&] { return stopping_; })) return;
      }
      lock.unlock();
      Status sent = postJson(webhook_, body);
      lock.lock();
      if (sent.ok()) {
        delivered = true;
        delivered_.increment();
        if (complained) log_.info("alert webhook '" + webhook_.name + "' delivers again");
        complained = false;
        break;
      }
      failed_.increment();
      if (!complained)
        log_.warn("alert webhook '" + webhook_.name + "': " + sent.message() + " (retrying; said once)");
      complained = true;
    }
    if (!delivered && !stopping_) dropped_.increment();
  }
}

}  // namespace hive::monitoring_engine
