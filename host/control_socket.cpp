#include "host/control_socket.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>

#include "hive/services/http.hpp"
#include "host/plugin_host.hpp"
#include "host/reload_controller.hpp"

namespace hive::host {
namespace {

constexpr std::size_t kMaxCommandBytes = 4096;
constexpr int kClientTimeoutMs = 5000;

std::string errnoText(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

Result<sockaddr_un> addressOf(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path)
    return invalidArgument("control socket path must be 1 to " + std::to_string(sizeof address.sun_path - 1) +
                           " bytes: '" + path + "'");
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads until a newline, EOF, the size limit or the timeout.
Result<std::string> readLine(int fd) {
  std::string line;
  char buffer[512];
  while (line.size() <= kMaxCommandBytes) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kClientTimeoutMs) <= 0) return deadlineExceeded("client sent no command in time");
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    line.append(buffer, static_cast<std::size_t>(n));
    if (auto end = line.find('\n'); end != std::string::npos) return line.substr(0, end);
  }
  if (line.size() > kMaxCommandBytes) return resourceExhausted("command longer than 4096 bytes");
  return line;
}

void writeAll(int fd, const std::string& text) {
  std::size_t sent = 0;
  while (sent < text.size()) {
    ssize_t n = ::send(fd, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    sent += static_cast<std::size_t>(n);
  }
}

}  // namespace

struct ControlServer::Impl {
  std::string path;
  Handler handle;
  Logger& log;
  Fd listener;
  Fd stopEvent;
  std::thread thread;

  void serve() {
    for (;;) {
      pollfd fds[2] = {{listener.get(), POLLIN, 0}, {stopEvent.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        log.error("control socket stopped: " + errnoText("poll"));
        return;
      }
      if (fds[1].revents & POLLIN) return;
      Fd client(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (client.get() < 0) continue;
      auto command = readLine(client.get());
      std::string reply;
      if (!command.ok()) {
        reply = "error: " + command.status().message() + "\n";
      } else {
        try {
          reply = handle(*command);
        } catch (const std::exception& e) {
          reply = std::string("error: internal error: ") + e.what() + "\n";
        }
      }
      writeAll(client.get(), reply);
    }
  }
};

ControlServer::ControlServer(std::string path, Handler handle, Logger& log)
    : impl_(new Impl{std::move(path), std::move(handle), log, Fd(), Fd(), {}}) {}

ControlServer::~ControlServer() { stop(); }

const std::string& ControlServer::path() const { return impl_->path; }

Status ControlServer::start() {
  Impl& i = *impl_;
  auto address = HIVE_TRY(addressOf(i.path));
  std::error_code ignored;
  std::filesystem::create_directories(std::filesystem::path(i.path).parent_path(), ignored);
  // A socket file nobody answers on is left over from a crash: replace it. One
  // that answers belongs to a running kernel: refuse.
  if (std::filesystem::exists(i.path)) {
    if (sendControlCommand(i.path, "ping").ok())
      return alreadyExists("control socket " + i.path + " is in use by a running hive");
    ::unlink(i.path.c_str());
  }
  Fd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (listener.get() < 0) return unavailable(errnoText("socket"));
  // Only the owner may connect: the mode is set before anyone can.
  mode_t previous = ::umask(0177);
  int bound = ::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
  ::umask(previous);
  if (bound != 0) return unavailable("control socket " + i.path + ": " + errnoText("bind"));
  if (::chmod(i.path.c_str(), 0600) != 0) return unavailable(errnoText("chmod"));
  if (::listen(listener.get(), 16) != 0) return unavailable(errnoText("listen"));
  i.stopEvent = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  i.listener = std::move(listener);
  i.thread = std::thread([&i] { i.serve(); });
  return okStatus();
}

void ControlServer::stop() {
  Impl& i = *impl_;
  if (!i.thread.joinable()) return;
  std::uint64_t one = 1;
  (void)!::write(i.stopEvent.get(), &one, sizeof one);
  i.thread.join();
  i.listener = Fd();
  ::unlink(i.path.c_str());
}

Result<std::string> sendControlCommand(const std::string& path, const std::string& command) {
  auto address = HIVE_TRY(addressOf(path));
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return unavailable(errnoText("socket"));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
    return unavailable("cannot reach hive at " + path + ": " + std::strerror(errno) + " (is it running?)");
  writeAll(fd.get(), command + "\n");
  ::shutdown(fd.get(), SHUT_WR);
  std::string reply;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buffer, static_cast<std::size_t>(n));
  }
  return reply;
}

namespace {

using http::jsonQuote;

// One plugin's status line (also what `hive plugins status` prints).
std::string statusJson(const PluginStatus& s) {
  return "{\"name\":" + jsonQuote(s.name) + ",\"version\":" + jsonQuote(s.version) +
         ",\"state\":" + jsonQuote(pluginStateName(s.state)) +
         ",\"generation\":" + std::to_string(s.generation) +
         ",\"leases\":" + std::to_string(s.leasesInFlight) + ",\"reloads\":" + std::to_string(s.reloads) +
         ",\"required\":" + (s.required ? "true" : "false") + ",\"path\":" + jsonQuote(s.path) +
         ",\"reason\":" + jsonQuote(s.reason) + ",\"last_reload_error\":" + jsonQuote(s.lastReloadError) +
         "}";
}

std::string retiredJson(const RetiredGeneration& r) {
  return "{\"retired\":" + jsonQuote(r.name) + ",\"version\":" + jsonQuote(r.version) +
         ",\"generation\":" + std::to_string(r.generation) + ",\"state\":" + jsonQuote(r.state) +
         ",\"zombie\":" + (r.state == "zombie" ? "true" : "false") + ",\"reason\":" + jsonQuote(r.reason) +
         "}";
}

}  // namespace

std::string controlCommand(PluginHost& host, ReloadController& reloads, const std::string& line) {
  std::istringstream in(line);
  std::string verb, object, name;
  in >> verb >> object >> name;
  auto reply = [](const Status& s, const std::string& body = {}) {
    return (s.ok() ? std::string("ok\n") : "error: " + s.message() + "\n") + body;
  };
  if (verb == "ping") return "ok\n";
  if (verb == "plugins" && (object == "status" || object == "list")) {
    std::string body;
    for (const auto& s : host.status()) body += statusJson(s) + "\n";
    for (const auto& r : host.retired()) body += retiredJson(r) + "\n";
    return reply(okStatus(), body);
  }
  if (verb == "plugins" && object == "reload" && !name.empty()) return reply(reloads.reloadPlugin(name));
  if (verb == "plugins" && object == "rescan") return reply(reloads.rescanPlugins());
  if (verb == "config" && object == "reload") return reply(reloads.reloadConfig());
  return reply(
      invalidArgument("unknown command '" + line +
                      "' (known: ping, plugins status, plugins reload NAME, plugins rescan, config reload)"));
}

}  // namespace hive::host
