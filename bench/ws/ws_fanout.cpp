// ws_fanout: fan-out latency of the api plugin's event WebSocket (/api/v2/ws).
//
//   ws_fanout --port P [--connections 10000] [--topic tasks] [--events 20] [--ramp 500]
//             [--post-path /api/v2/tasks] [--post-body JSON] [--server-pid PID] [--threads 1]
//
// Opens N WebSocket connections (subprotocol hive.v1), at most --ramp attempts
// in flight, each bounded by --connect-timeout; `subscribe`s each to one topic
// and waits for every `subscribed`. Then, one event at a time, it sends an HTTP
// POST whose body carries a marker ("{marker}" in --post-body; the default
// submits a task, which task_manager publishes on `tasks` after its commit) and
// records, on every connection, when the event frame carrying that marker
// arrived: the kernel's receive timestamp of the frame on the client socket
// (SO_TIMESTAMPNS), and when the client's read of it completed. Latency is
// measured from the moment the POST was handed to its socket.
//
// All connections and the POSTs run on --threads io_context threads (one by
// default: one epoll loop), never a thread per connection. The kernel timestamp
// does not depend on when the client got to run; the read time does, and the
// gap between the two shows the client's own queueing. Each event's row also
// has the CPU time of the client and (with --server-pid) of the server.
// Run by bench/ws/run.sh, which starts the server.
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t kUnset = -1;
constexpr std::string_view kMarkerPlaceholder = "{marker}";

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::size_t connections = 10'000;
  std::string topic = "tasks";
  std::size_t events = 20;
  std::size_t ramp = 500;
  std::string postPath = "/api/v2/tasks";
  std::string postBody =
      R"({"type":"bench.ws","title":"ws fan-out","capabilities":["bench-ws-nobody"],"payload":{"marker":"{marker}"}})";
  double connectTimeoutSeconds = 30;
  double eventTimeoutSeconds = 30;
  int intervalMs = 200;
  int settleMs = 1000;
  int threads = 1;
  int serverPid = 0;
};

std::int64_t steadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// CLOCK_REALTIME, the clock of the kernel's receive timestamps.
std::int64_t systemNs() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

double ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

// Nearest rank; `sorted` is not empty.
std::int64_t percentile(const std::vector<std::int64_t>& sorted, double p) {
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

double processCpuMs() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto toMs = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) / 1e3;
  };
  return toMs(usage.ru_utime) + toMs(usage.ru_stime);
}

// utime + stime of another process, from /proc (clock-tick resolution, 10 ms).
std::optional<double> serverCpuMs(int pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  // Fields after the command: state is field 3; utime and stime are 14 and 15.
  for (int index = 3; index <= 15 && fields >> field; ++index)
    if (index >= 14) ticks += std::stod(field);
  return ticks * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// "VmRSS=... kB VmHWM=... kB" of a process.
std::string memoryLine(const std::string& pid) {
  std::ifstream file("/proc/" + pid + "/status");
  std::string line, rss = "?", hwm = "?";
  while (std::getline(file, line)) {
    auto value = [&](std::string_view key) {
      std::string rest = line.substr(key.size());
      rest.erase(0, rest.find_first_not_of(" \t"));
      return rest;
    };
    if (line.rfind("VmRSS:", 0) == 0) rss = value("VmRSS:");
    if (line.rfind("VmHWM:", 0) == 0) hwm = value("VmHWM:");
  }
  return "VmRSS=" + rss + " VmHWM=" + hwm;
}

// The WebSocket's next layer: a TCP socket whose reads also return the kernel's
// receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME) of the last segment read,
// so an event's arrival time does not depend on when this client got to run.
// NOLINTBEGIN(readability-identifier-naming): the names Asio's AsyncStream and Beast's teardown require.
class TimestampedSocket {
 public:
  using executor_type = tcp::socket::executor_type;
  using next_layer_type = tcp::socket;

  explicit TimestampedSocket(net::io_context& io) : socket_(io) {}

  executor_type get_executor() { return socket_.get_executor(); }
  tcp::socket& next_layer() { return socket_; }
  // Kernel receive time of the last segment of the latest read, ns since the epoch; 0 if none.
  std::int64_t receivedNs() const { return receivedNs_; }

  void enableTimestamps() {
    int on = 1;
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    socket_.non_blocking(true);
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return net::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        [this, buffers, waited = false](auto& self, boost::system::error_code error = {}) mutable {
          if (error) return self.complete(error, 0);
          if (waited) {
            std::size_t read = 0;
            error = receive(buffers, read);
            if (error != net::error::would_block) return self.complete(error, read);
          }
          waited = true;
          socket_.async_wait(tcp::socket::wait_read, std::move(self));
        },
        token, socket_);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return socket_.async_write_some(buffers, std::forward<Token>(token));
  }

  friend void teardown(beast::role_type role, TimestampedSocket& stream, boost::system::error_code& error) {
    websocket::teardown(role, stream.socket_, error);
  }
  template <class Handler>
  friend void async_teardown(beast::role_type role, TimestampedSocket& stream, Handler&& handler) {
    websocket::async_teardown(role, stream.socket_, std::forward<Handler>(handler));
  }

 private:
  template <class MutableBuffers>
  boost::system::error_code receive(const MutableBuffers& buffers, std::size_t& read) {
    iovec vectors[16];
    int count = 0;
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers) && count < 16;
         ++it) {
      net::mutable_buffer buffer = *it;
      vectors[count++] = {buffer.data(), buffer.size()};
    }
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
    msghdr message{};
    message.msg_iov = vectors;
    message.msg_iovlen = static_cast<std::size_t>(count);
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t got = ::recvmsg(socket_.native_handle(), &message, 0);
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return net::error::would_block;
      return {errno, boost::system::system_category()};
    }
    if (got == 0) return net::error::eof;
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
      if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_TIMESTAMPNS) {
        timespec stamp{};
        std::memcpy(&stamp, CMSG_DATA(header), sizeof stamp);
        receivedNs_ = static_cast<std::int64_t>(stamp.tv_sec) * 1'000'000'000 + stamp.tv_nsec;
      }
    }
    read = static_cast<std::size_t>(got);
    return {};
  }

  tcp::socket socket_;
  std::int64_t receivedNs_ = 0;
};
// NOLINTEND(readability-identifier-naming)

class Connection;

// Everything the connections share with the controller. Connections run on
// their own io_context thread; what the controller reads is atomic.
class Bench {
 public:
  explicit Bench(Options options);
  int run();

  // From the connections (any io thread).
  void launchNext();
  void onSubscribed(std::size_t index, std::int64_t elapsedNs);
  void onConnectFailed(const std::string& reason);
  void onDropped(const std::string& reason);
  // `readNs`: steady clock when the read completed; `receivedNs`: kernel receive time (realtime, 0 if none).
  void onMessage(std::size_t index, std::string_view text, std::int64_t readNs, std::int64_t receivedNs);
  bool closing() const { return closing_.load(); }
  const tcp::endpoint& endpoint() const { return endpoint_; }
  const std::string& hostHeader() const { return hostHeader_; }
  const std::string& subscribeText() const { return subscribeText_; }
  std::chrono::nanoseconds connectTimeout() const {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(options_.connectTimeoutSeconds * 1e9));
  }

 private:
  net::awaitable<void> control();
  net::awaitable<bool> connectAll();
  net::awaitable<bool> publishAll();
  net::awaitable<void> closeAll();
  // Sleeps until woken, `until` passes, or 20 ms (a wake-up may come before the wait).
  net::awaitable<void> pause(Clock::time_point until);
  void wake();
  void memory(const char* phase);
  void record(const std::string& reason);
  void printFailures();

  Options options_;
  std::string markerPrefix_;
  tcp::endpoint endpoint_;
  std::string hostHeader_;
  std::string subscribeText_;
  std::vector<std::unique_ptr<net::io_context>> contexts_;
  std::unique_ptr<net::steady_timer> wake_;
  std::vector<std::shared_ptr<Connection>> connections_;

  std::atomic<std::size_t> next_{0};
  std::atomic<std::size_t> subscribed_{0};
  std::atomic<std::size_t> connectFailed_{0};
  std::atomic<std::size_t> alive_{0};
  std::atomic<std::size_t> dropped_{0};
  std::atomic<std::size_t> otherMessages_{0};
  std::atomic<std::size_t> duplicates_{0};
  std::atomic<bool> closing_{false};
  std::vector<std::atomic<std::int64_t>> connectNs_;  // per connection: start to `subscribed`
  std::vector<std::atomic<std::int64_t>> readNs_;     // events x connections: read completed, steady ns
  std::vector<std::atomic<std::int64_t>>
      receivedNs_;                                  // events x connections: kernel receive time, realtime ns
  std::vector<std::atomic<std::size_t>> received_;  // per event
  std::vector<std::atomic<std::int64_t>> busTsMs_;  // per event: the envelope's `ts` (bus publish time)

  std::mutex failuresMutex_;
  std::map<std::string, std::size_t> failures_;
  bool complete_ = true;
};

enum class Phase : int { kIdle, kConnecting, kHandshaking, kSubscribing, kSubscribed, kClosed };

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Bench& bench, net::io_context& io, std::size_t index) : bench_(bench), ws_(io), index_(index) {}

  Phase phase() const { return phase_.load(); }
  std::int64_t startedNs() const { return startedNs_.load(); }
  net::any_io_executor executor() { return ws_.get_executor(); }

  void start() {
    startedNs_ = steadyNs();
    phase_ = Phase::kConnecting;
    // Bounded by the controller's sweep (timeOut()), which closes the socket.
    ws_.next_layer().next_layer().async_connect(
        bench_.endpoint(),
        [self = shared_from_this()](const boost::system::error_code& error) { self->onConnect(error); });
  }

  // On this connection's thread, from the controller's sweep.
  void timeOut() {
    Phase now = phase_.load();
    if (now == Phase::kConnecting || now == Phase::kHandshaking || now == Phase::kSubscribing)
      fail(phaseName(now) + ": no answer within the connect timeout");
  }

  void close() {
    if (phase_.load() != Phase::kSubscribed) return;
    ws_.async_close(websocket::close_code::normal,
                    [self = shared_from_this()](const boost::system::error_code&) { self->hardClose(); });
  }

 private:
  static std::string phaseName(Phase phase) {
    switch (phase) {
      case Phase::kConnecting: return "connect";
      case Phase::kHandshaking: return "handshake";
      case Phase::kSubscribing: return "subscribe";
      case Phase::kSubscribed: return "subscribed";
      default: return "idle";
    }
  }

  void onConnect(const boost::system::error_code& error) {
    if (error) return fail("connect: " + error.message());
    boost::system::error_code ignored;
    ws_.next_layer().next_layer().set_option(tcp::no_delay(true), ignored);
    ws_.next_layer().enableTimestamps();
    websocket::stream_base::timeout timeouts;
    timeouts.handshake_timeout = bench_.connectTimeout();  // also bounds the closing handshake
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
      request.set(bhttp::field::sec_websocket_protocol, "hive.v1");
    }));
    phase_ = Phase::kHandshaking;
    ws_.async_handshake(
        response_, bench_.hostHeader(), "/api/v2/ws",
        [self = shared_from_this()](const boost::system::error_code& error) { self->onHandshake(error); });
  }

  void onHandshake(const boost::system::error_code& error) {
    if (error) {
      unsigned status = response_.result_int();
      return fail("handshake: " + error.message() +
                  (status != 0 ? " (HTTP " + std::to_string(status) + ")" : ""));
    }
    if (response_[bhttp::field::sec_websocket_protocol] != "hive.v1")
      return fail("handshake: subprotocol hive.v1 not accepted");
    response_ = {};
    phase_ = Phase::kSubscribing;
    ws_.text(true);
    ws_.async_write(net::buffer(bench_.subscribeText()),
                    [self = shared_from_this()](const boost::system::error_code& error, std::size_t) {
                      if (error) self->fail("subscribe: write: " + error.message());
                    });
    read();
  }

  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](const boost::system::error_code& error, std::size_t) {
      self->onRead(error);
    });
  }

  void onRead(const boost::system::error_code& error) {
    std::int64_t now = steadyNs();
    if (error) {
      if (phase_.load() == Phase::kSubscribed && bench_.closing()) return finish();
      std::string reason = error.message();
      if (ws_.reason().code != 0) reason += " (close " + std::to_string(ws_.reason().code) + ")";
      return fail(phaseName(phase_.load()) + ": read: " + reason);
    }
    auto data = buffer_.cdata();
    std::string_view text(static_cast<const char*>(data.data()), data.size());
    if (phase_.load() == Phase::kSubscribing) {
      if (text.find(R"("type":"subscribed")") != std::string_view::npos) {
        phase_ = Phase::kSubscribed;
        bench_.onSubscribed(index_, now - startedNs_.load());
      } else if (text.find(R"("type":"error")") != std::string_view::npos) {
        return fail("subscribe: refused: " + std::string(text.substr(0, 200)));
      }
    } else {
      bench_.onMessage(index_, text, now, ws_.next_layer().receivedNs());
    }
    buffer_.consume(buffer_.size());
    read();
  }

  void fail(const std::string& reason) {
    Phase was = phase_.exchange(Phase::kClosed);
    if (was == Phase::kClosed) return;
    hardClose();
    if (was == Phase::kSubscribed)
      bench_.onDropped(reason);
    else
      bench_.onConnectFailed(reason);
  }

  // The closing handshake of the end of the run is over (or failed).
  void finish() {
    if (phase_.exchange(Phase::kClosed) == Phase::kSubscribed) bench_.onDropped({});
    hardClose();
  }

  void hardClose() {
    boost::system::error_code ignored;
    ws_.next_layer().next_layer().shutdown(tcp::socket::shutdown_both, ignored);
    ws_.next_layer().next_layer().close(ignored);
  }

  Bench& bench_;
  websocket::stream<TimestampedSocket> ws_;
  std::size_t index_;
  websocket::response_type response_;
  beast::flat_buffer buffer_;
  std::atomic<Phase> phase_{Phase::kIdle};
  std::atomic<std::int64_t> startedNs_{0};
};

Bench::Bench(Options options)
    : options_(std::move(options)),
      connectNs_(options_.connections),
      readNs_(options_.connections * options_.events),
      receivedNs_(options_.connections * options_.events),
      received_(options_.events),
      busTsMs_(options_.events) {
  markerPrefix_ =
      "wsfanout" + std::to_string(getpid()) + "x" + std::to_string(systemNs() / 1000 % 1'000'000) + "-";
  hostHeader_ = options_.host + ":" + std::to_string(options_.port);
  subscribeText_ = R"({"type":"subscribe","id":"s","topic":")" + options_.topic + R"("})";
  for (auto& value : connectNs_) value = kUnset;
  for (auto& value : readNs_) value = kUnset;
  for (auto& value : receivedNs_) value = kUnset;
  for (auto& value : busTsMs_) value = kUnset;
  for (int i = 0; i < options_.threads; ++i) contexts_.push_back(std::make_unique<net::io_context>(1));
  wake_ = std::make_unique<net::steady_timer>(*contexts_[0]);
  connections_.reserve(options_.connections);
  for (std::size_t i = 0; i < options_.connections; ++i)
    connections_.push_back(std::make_shared<Connection>(*this, *contexts_[i % contexts_.size()], i));
}

void Bench::launchNext() {
  std::size_t index = next_.fetch_add(1);
  if (index >= connections_.size()) return;
  auto connection = connections_[index];
  net::post(connection->executor(), [connection] { connection->start(); });
}

void Bench::onSubscribed(std::size_t index, std::int64_t elapsedNs) {
  connectNs_[index] = elapsedNs;
  alive_.fetch_add(1);
  subscribed_.fetch_add(1);
  launchNext();
  wake();
}

void Bench::onConnectFailed(const std::string& reason) {
  record(reason);
  connectFailed_.fetch_add(1);
  launchNext();
  wake();
}

void Bench::onDropped(const std::string& reason) {
  if (!reason.empty()) {
    record("after subscribing: " + reason);
    dropped_.fetch_add(1);
  }
  alive_.fetch_sub(1);
  wake();
}

void Bench::record(const std::string& reason) {
  std::lock_guard lock(failuresMutex_);
  ++failures_[reason];
}

void Bench::onMessage(std::size_t index, std::string_view text, std::int64_t readNs,
                      std::int64_t receivedNs) {
  std::size_t at = text.find(markerPrefix_);
  if (at == std::string_view::npos || text.find(R"("type":"event")") == std::string_view::npos) {
    otherMessages_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::size_t event = 0;
  bool digits = false;
  for (std::size_t i = at + markerPrefix_.size(); i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    event = event * 10 + static_cast<std::size_t>(text[i] - '0');
    digits = true;
  }
  if (!digits || event >= options_.events) {
    otherMessages_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::size_t slot = event * options_.connections + index;
  if (readNs_[slot].load(std::memory_order_relaxed) != kUnset) {
    duplicates_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  readNs_[slot].store(readNs, std::memory_order_relaxed);
  receivedNs_[slot].store(receivedNs > 0 ? receivedNs : kUnset, std::memory_order_relaxed);
  std::size_t before = received_[event].fetch_add(1, std::memory_order_acq_rel);
  if (before == 0) {
    // The envelope's `ts` is the bus event's time (ms since the epoch).
    std::size_t ts = text.find(R"("ts":)");
    if (ts != std::string_view::npos) {
      std::int64_t value = 0;
      for (std::size_t i = ts + 5; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i)
        value = value * 10 + (text[i] - '0');
      busTsMs_[event] = value;
    }
  }
  if (before + 1 >= alive_.load()) wake();
}

void Bench::wake() {
  net::post(*contexts_[0], [this] { wake_->cancel(); });
}

net::awaitable<void> Bench::pause(Clock::time_point until) {
  wake_->expires_at(std::min(until, Clock::now() + std::chrono::milliseconds(20)));
  co_await wake_->async_wait(net::as_tuple(net::use_awaitable));
}

void Bench::memory(const char* phase) {
  std::string server =
      options_.serverPid > 0 ? memoryLine(std::to_string(options_.serverPid)) : "(no --server-pid)";
  std::printf("memory %-18s server %s | client %s\n", phase, server.c_str(), memoryLine("self").c_str());
  std::fflush(stdout);
}

void Bench::printFailures() {
  std::lock_guard lock(failuresMutex_);
  for (const auto& [reason, count] : failures_) std::printf("  %6zu x %s\n", count, reason.c_str());
}

net::awaitable<bool> Bench::connectAll() {
  std::size_t total = options_.connections;
  std::int64_t started = steadyNs();
  for (std::size_t i = 0; i < std::min(options_.ramp, total); ++i) launchNext();
  std::int64_t timeout = std::chrono::nanoseconds(connectTimeout()).count();
  auto lastSweep = Clock::now();
  auto lastReport = Clock::now();
  while (subscribed_.load() + connectFailed_.load() < total) {
    co_await pause(Clock::now() + std::chrono::milliseconds(500));
    auto now = Clock::now();
    if (now - lastSweep >= std::chrono::milliseconds(500)) {
      lastSweep = now;
      std::int64_t nowNs = steadyNs();
      for (auto& connection : connections_) {
        Phase phase = connection->phase();
        if ((phase == Phase::kConnecting || phase == Phase::kHandshaking || phase == Phase::kSubscribing) &&
            nowNs - connection->startedNs() > timeout)
          net::post(connection->executor(), [connection] { connection->timeOut(); });
      }
    }
    if (now - lastReport >= std::chrono::seconds(2)) {
      lastReport = now;
      std::printf("  ... %zu subscribed, %zu failed, %.1f s\n", subscribed_.load(), connectFailed_.load(),
                  ms(steadyNs() - started) / 1e3);
      std::fflush(stdout);
    }
  }
  std::int64_t elapsed = steadyNs() - started;
  std::vector<std::int64_t> times;
  for (auto& value : connectNs_)
    if (value.load() != kUnset) times.push_back(value.load());
  std::sort(times.begin(), times.end());
  std::printf(
      "connect: %zu/%zu subscribed in %.2f s (%.0f connections/s, at most %zu in flight), %zu failed\n",
      subscribed_.load(), total, ms(elapsed) / 1e3,
      static_cast<double>(subscribed_.load()) / (ms(elapsed) / 1e3), options_.ramp, connectFailed_.load());
  if (!times.empty())
    std::printf(
        "connect: per connection, TCP connect + upgrade + subscribe: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
        ms(percentile(times, 50)), ms(percentile(times, 99)), ms(times.back()));
  printFailures();
  std::fflush(stdout);
  co_return subscribed_.load() > 0;
}

net::awaitable<bool> Bench::publishAll() {
  auto executor = co_await net::this_coro::executor;
  beast::tcp_stream post(executor);
  auto eventTimeout = std::chrono::nanoseconds(static_cast<std::int64_t>(options_.eventTimeoutSeconds * 1e9));
  post.expires_after(eventTimeout);
  auto [connectError] = co_await post.async_connect(endpoint_, net::as_tuple(net::use_awaitable));
  if (connectError) {
    std::printf("POST connection: %s\n", connectError.message().c_str());
    co_return false;
  }
  post.socket().set_option(tcp::no_delay(true));

  std::printf(
      "\nlatency (ms) = arrival on a connection minus the trigger: the time the POST %s was handed to its\n"
      "socket. Arrival is the kernel's receive timestamp of the event frame on the client socket\n"
      "(SO_TIMESTAMPNS), so it does not depend on when this client got to run; read_* is when the client's\n"
      "read of the frame completed (adds the client's own queueing). Latency includes the POST's work up to\n"
      "the bus publish (parse, SQLite commit): bus_ms = the envelope's `ts` (bus publish time, 1 ms\n"
      "resolution) minus the trigger, so fan-out alone is about latency - bus_ms. post_ms = POST round "
      "trip.\n"
      "cpu (ms) while the event was in flight: this client process, and the hive process (10 ms ticks).\n\n",
      options_.postPath.c_str());
  std::printf("%5s %6s %6s %7s %6s %7s %7s %7s %7s | %8s %8s %8s | %6s %6s\n", "event", "alive", "got",
              "post", "bus", "first", "p50", "p99", "max", "read_p50", "read_p99", "read_max", "client",
              "server");
  std::vector<std::int64_t> all, allRead;
  std::vector<double> p50s, p99s, maxima, fanout99, readP99s;
  std::size_t missingTotal = 0, unstamped = 0;
  for (std::size_t event = 0; event < options_.events; ++event) {
    std::string marker = markerPrefix_ + std::to_string(event);
    std::string body = options_.postBody;
    for (std::size_t at = body.find(kMarkerPlaceholder); at != std::string::npos;
         at = body.find(kMarkerPlaceholder, at + marker.size()))
      body.replace(at, kMarkerPlaceholder.size(), marker);
    bhttp::request<bhttp::string_body> request(bhttp::verb::post, options_.postPath, 11);
    request.set(bhttp::field::host, hostHeader_);
    request.set(bhttp::field::content_type, "application/json");
    request.keep_alive(true);
    request.body() = std::move(body);
    request.prepare_payload();

    std::size_t expected = alive_.load();
    double clientCpu0 = processCpuMs();
    auto serverCpu0 = serverCpuMs(options_.serverPid);
    std::int64_t triggerSystem = systemNs();
    std::int64_t trigger = steadyNs();
    post.expires_after(eventTimeout);
    auto [writeError, written] =
        co_await bhttp::async_write(post, request, net::as_tuple(net::use_awaitable));
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> response;
    boost::system::error_code readError;
    if (!writeError)
      std::tie(readError, std::ignore) =
          co_await bhttp::async_read(post, buffer, response, net::as_tuple(net::use_awaitable));
    std::int64_t postNs = steadyNs() - trigger;
    if (writeError || readError || response.result_int() / 100 != 2) {
      std::printf("POST %s failed: %s %s\n", options_.postPath.c_str(),
                  (writeError ? writeError : readError).message().c_str(),
                  (writeError || readError)
                      ? ""
                      : (std::to_string(response.result_int()) + " " + response.body()).c_str());
      co_return false;
    }
    auto deadline = Clock::now() + eventTimeout;
    while (received_[event].load() < alive_.load() && Clock::now() < deadline) co_await pause(deadline);
    double clientCpu = processCpuMs() - clientCpu0;
    auto serverCpu1 = serverCpuMs(options_.serverPid);

    std::vector<std::int64_t> latencies, reads;
    latencies.reserve(options_.connections);
    reads.reserve(options_.connections);
    for (std::size_t i = 0; i < options_.connections; ++i) {
      std::size_t slot = event * options_.connections + i;
      std::int64_t read = readNs_[slot].load();
      if (read == kUnset) continue;
      reads.push_back(read - trigger);
      std::int64_t stamped = receivedNs_[slot].load();
      if (stamped == kUnset)
        ++unstamped;
      else
        latencies.push_back(stamped - triggerSystem);
    }
    std::sort(latencies.begin(), latencies.end());
    std::sort(reads.begin(), reads.end());
    std::size_t missing = expected > reads.size() ? expected - reads.size() : 0;
    missingTotal += missing;
    double busMs = busTsMs_[event].load() == kUnset
                       ? std::nan("")
                       : static_cast<double>(busTsMs_[event].load()) - ms(triggerSystem);
    std::string serverCpu = serverCpu0 && serverCpu1
                                ? std::to_string(static_cast<int>(*serverCpu1 - *serverCpu0))
                                : std::string("-");
    if (latencies.empty() || reads.empty()) {
      std::printf("%5zu %6zu %6zu %7.2f %6s  (no connection received it within %.0f s; server cpu %s ms)\n",
                  event, expected, reads.size(), ms(postNs), "-", options_.eventTimeoutSeconds,
                  serverCpu.c_str());
      continue;
    }
    double p50 = ms(percentile(latencies, 50)), p99 = ms(percentile(latencies, 99)),
           max = ms(latencies.back());
    std::printf("%5zu %6zu %6zu %7.2f %6.1f %7.2f %7.2f %7.2f %7.2f | %8.2f %8.2f %8.2f | %6.0f %6s\n", event,
                expected, reads.size(), ms(postNs), busMs, ms(latencies.front()), p50, p99, max,
                ms(percentile(reads, 50)), ms(percentile(reads, 99)), ms(reads.back()), clientCpu,
                serverCpu.c_str());
    std::fflush(stdout);
    p50s.push_back(p50);
    p99s.push_back(p99);
    maxima.push_back(max);
    readP99s.push_back(ms(percentile(reads, 99)));
    if (!std::isnan(busMs)) fanout99.push_back(p99 - busMs);
    all.insert(all.end(), latencies.begin(), latencies.end());
    allRead.insert(allRead.end(), reads.begin(), reads.end());
    auto next = Clock::now() + std::chrono::milliseconds(options_.intervalMs);
    while (Clock::now() < next) co_await pause(next);
  }
  boost::system::error_code ignored;
  post.socket().shutdown(tcp::socket::shutdown_both, ignored);

  auto median = [](std::vector<double> values) {
    if (values.empty()) return std::nan("");
    std::sort(values.begin(), values.end());
    return values[(values.size() - 1) / 2];
  };
  std::sort(all.begin(), all.end());
  std::sort(allRead.begin(), allRead.end());
  std::printf("\n");
  if (!all.empty()) {
    double worst = *std::max_element(p99s.begin(), p99s.end());
    std::printf(
        "all events: %zu deliveries, p50 %.2f ms, p99 %.2f ms, max %.2f ms (trigger to kernel receive)\n",
        all.size(), ms(percentile(all, 50)), ms(percentile(all, 99)), ms(all.back()));
    std::printf("all events, client read completed: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                ms(percentile(allRead, 50)), ms(percentile(allRead, 99)), ms(allRead.back()));
    std::printf(
        "per event (median over %zu events): p50 %.2f ms, p99 %.2f ms, max %.2f ms; worst p99 %.2f ms\n",
        p50s.size(), median(p50s), median(p99s), median(maxima), worst);
    std::printf("per event, p99 - bus_ms (fan-out after the bus publish, +-1 ms): median %.1f ms\n",
                median(fanout99));
    std::printf(
        "RESULT connections=%zu events=%zu deliveries=%zu missing=%zu p50_ms=%.2f p99_ms=%.2f max_ms=%.2f "
        "event_p50_median_ms=%.2f event_p99_median_ms=%.2f event_p99_worst_ms=%.2f "
        "fanout_p99_median_ms=%.1f read_p99_median_ms=%.2f\n",
        alive_.load(), p50s.size(), all.size(), missingTotal, ms(percentile(all, 50)),
        ms(percentile(all, 99)), ms(all.back()), median(p50s), median(p99s), worst, median(fanout99),
        median(readP99s));
  }
  if (unstamped > 0) std::printf("deliveries without a kernel timestamp (left out above): %zu\n", unstamped);
  std::printf("missing deliveries: %zu, duplicates: %zu, other messages: %zu, dropped connections: %zu\n",
              missingTotal, duplicates_.load(), otherMessages_.load(), dropped_.load());
  if (dropped_.load() > 0) printFailures();
  std::fflush(stdout);
  if (missingTotal > 0 || dropped_.load() > 0) complete_ = false;
  co_return true;
}

net::awaitable<void> Bench::closeAll() {
  closing_ = true;
  for (auto& connection : connections_)
    net::post(connection->executor(), [connection] { connection->close(); });
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (alive_.load() > 0 && Clock::now() < deadline) co_await pause(deadline);
  if (alive_.load() > 0) std::printf("close: %zu connections still open after 10 s\n", alive_.load());
}

net::awaitable<void> Bench::control() {
  memory("before-connect");
  bool connected = co_await connectAll();
  if (subscribed_.load() < options_.connections) complete_ = false;
  memory("connected");
  if (connected) {
    auto settled = Clock::now() + std::chrono::milliseconds(options_.settleMs);
    while (Clock::now() < settled) co_await pause(settled);
    memory("settled");
    if (!co_await publishAll()) complete_ = false;
    memory("after-events");
  } else {
    complete_ = false;
  }
  co_await closeAll();
  for (auto& context : contexts_) context->stop();
}

int Bench::run() {
  boost::system::error_code error;
  auto address = net::ip::make_address(options_.host, error);
  if (error) {
    tcp::resolver resolver(*contexts_[0]);
    auto results = resolver.resolve(options_.host, std::to_string(options_.port), error);
    if (error || results.empty()) {
      std::fprintf(stderr, "ws_fanout: cannot resolve %s: %s\n", options_.host.c_str(),
                   error.message().c_str());
      return 2;
    }
    endpoint_ = *results.begin();
  } else {
    endpoint_ = tcp::endpoint(address, options_.port);
  }
  std::printf(
      "ws_fanout: %zu connections to ws://%s/api/v2/ws (hive.v1), topic '%s', %zu events; "
      "%d client io thread(s), ramp %zu in flight\n",
      options_.connections, hostHeader_.c_str(), options_.topic.c_str(), options_.events, options_.threads,
      options_.ramp);
  std::fflush(stdout);
  net::co_spawn(*contexts_[0], control(), [](const std::exception_ptr& failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ws_fanout: %s\n", e.what());
      std::abort();
    }
  });
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < contexts_.size(); ++i) {
    auto guard = net::make_work_guard(*contexts_[i]);
    threads.emplace_back([this, i, guard = std::move(guard)] { contexts_[i]->run(); });
  }
  contexts_[0]->run();
  for (auto& thread : threads) thread.join();
  connections_.clear();
  return complete_ ? 0 : 1;
}

int runMain(int argc, char** argv) {
  Options options;
  CLI::App app{"WebSocket fan-out of the api plugin: N clients of /api/v2/ws, one event at a time"};
  app.add_option("--host", options.host, "server address")->capture_default_str();
  app.add_option("--port", options.port, "server port")->required();
  app.add_option("--connections,-n", options.connections, "WebSocket connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--topic", options.topic, "topic pattern every connection subscribes to")
      ->capture_default_str();
  app.add_option("--events", options.events, "events published, one at a time")
      ->capture_default_str()
      ->check(CLI::Range(1, 100'000));
  app.add_option("--ramp", options.ramp, "connection attempts in flight at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 100'000));
  app.add_option("--post-path", options.postPath, "HTTP POST that publishes one event on the topic")
      ->capture_default_str();
  app.add_option("--post-body", options.postBody,
                 "its JSON body; {marker} is replaced by a marker that must appear in the event")
      ->capture_default_str();
  app.add_option("--connect-timeout", options.connectTimeoutSeconds,
                 "seconds per connection to be subscribed")
      ->capture_default_str();
  app.add_option("--event-timeout", options.eventTimeoutSeconds, "seconds to wait for one event everywhere")
      ->capture_default_str();
  app.add_option("--interval-ms", options.intervalMs, "pause between events")->capture_default_str();
  app.add_option("--settle-ms", options.settleMs, "pause after connecting, before the first event")
      ->capture_default_str();
  app.add_option("--threads", options.threads, "client io_context threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  app.add_option("--server-pid", options.serverPid, "pid of the server, for its CPU time and RSS");
  CLI11_PARSE(app, argc, argv);
  if (options.postBody.find(kMarkerPlaceholder) == std::string::npos) {
    std::fprintf(stderr, "ws_fanout: --post-body must contain {marker}\n");
    return 2;
  }
  Bench bench(std::move(options));
  return bench.run();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return runMain(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ws_fanout: %s\n", e.what());
    return 2;
  } catch (...) {
    std::fprintf(stderr, "ws_fanout: unknown exception\n");
    return 2;
  }
}
