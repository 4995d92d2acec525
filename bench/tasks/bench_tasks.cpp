// bench_tasks: figures for Hive's task path, end to end: submit over HTTP,
// dispatch to remote agents over WebSocket, results acknowledged.
//
//   bench_tasks --port P --mode submit [--connections 32] [--duration 10 | --tasks N]
//   bench_tasks --port P --mode e2e    --tasks N [--agents 8 --concurrency 64] [--rate R]
//   bench_tasks --port P --mode one    [--rounds 200] [--agents 1]
//
// One process, one thread, one io_context: every HTTP connection and every
// agent is a coroutine on the same epoll loop, so the client costs one core at
// most and the figures say how much of it it used (client_cpu).
//
// Times are taken on this process's steady clock:
//   submit    just before the POST is written to its connection (so a task can
//             be assigned before its 201 arrives);
//   created   when the 201 is read;
//   assigned  when the agent reads task.assign;
//   result    when the agent reads task.ack for its task.result with
//             accepted: true (Hive has stored the result: the task is done);
//   visible   when the event `task.succeeded` of the task arrives on a client
//             WebSocket /api/v2/ws subscribed to `tasks`: what a client that
//             watches the task sees, without polling.
// The built-in agents answer each task.assign at once with task.result
// (status succeeded, result {"i":N}); with --accept they send task.accept first,
// as the example agent does. They heartbeat at a third of the interval Hive asks.
//
// Modes:
//   submit  POSTs on C keep-alive connections, one request in flight each, for
//           --duration seconds or --tasks requests: req/s and latency of the
//           answers with --expect-status (201). --path/--body aim it at another
//           server (the body's {i} becomes the request's number).
//   e2e     N tasks submitted as fast as C connections go (or at --rate tasks/s)
//           while A agents of max_concurrency K run them: tasks/s from the first
//           submit to the last result, and per-task latencies. With --agents 0
//           the agents are other processes (the Python example) and completion
//           is the `task.succeeded` event (--watch is implied).
//   one     one task at a time: submit, wait until it is visible as succeeded
//           (and, with built-in agents, its result acknowledged), repeat.
// The last line is `RESULT key=value ...` for scripts (bench/tasks/run.sh).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace json = boost::json;
using tcp = net::ip::tcp;  // NOLINT(readability-identifier-naming): Asio's own name
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

constexpr std::int64_t kUnset = -1;

enum class Mode { kSubmit, kEndToEnd, kOneAtATime };

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  Mode mode = Mode::kEndToEnd;
  std::size_t connections = 32;
  double durationSeconds = 0;
  std::size_t tasks = 0;
  std::size_t agents = 8;
  int concurrency = 64;
  bool accept = false;
  double rate = 0;
  std::size_t window = 0;
  std::size_t rounds = 200;
  std::string path = "/api/v2/tasks";
  std::string body;
  std::string capability;
  unsigned expectStatus = 201;
  bool watch = false;
  double timeoutSeconds = 300;
  int serverPid = 0;
  std::string label = "run";
};

std::int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

double ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

double processCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// utime + stime of another process, from /proc (clock ticks); nullopt if unreadable.
std::optional<double> serverCpuSeconds(int pid) {
  if (pid <= 0) return std::nullopt;
  std::FILE* file = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (file == nullptr) return std::nullopt;
  char text[2048] = {};
  std::size_t got = std::fread(text, 1, sizeof text - 1, file);
  std::fclose(file);
  std::string_view view(text, got);
  std::size_t close = view.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  // Fields after the command: state is field 3; utime and stime are 14 and 15.
  double ticks = 0;
  int field = 3;
  std::size_t at = close + 2;
  while (at < view.size() && field <= 15) {
    std::size_t end = view.find(' ', at);
    if (end == std::string_view::npos) end = view.size();
    if (field >= 14) ticks += std::strtod(std::string(view.substr(at, end - at)).c_str(), nullptr);
    at = end + 1;
    ++field;
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Nearest-rank percentiles of latencies in ns.
struct Distribution {
  std::vector<std::int64_t> values;
  void add(std::int64_t value) { values.push_back(value); }
  void sort() { std::sort(values.begin(), values.end()); }
  double percentileMs(double p) const {
    if (values.empty()) return std::nan("");
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
    return ms(values[std::clamp<std::size_t>(rank, 1, values.size()) - 1]);
  }
};

std::string replaceAll(std::string text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// A JSON string or number as text (ids and lease tokens are strings today).
std::string scalarText(const json::value* value) {
  if (value == nullptr) return {};
  if (value->is_string()) return std::string(value->get_string());
  return json::serialize(*value);
}

class Bench;

// One remote agent: a WebSocket to /api/v2/agents/connect. Replies are queued
// and written one frame at a time (Beast allows one write in flight).
class Agent : public std::enable_shared_from_this<Agent> {
 public:
  Agent(Bench& bench, net::io_context& io, std::size_t index)
      : bench_(bench), ws_(io), heartbeat_(io), index_(index) {}

  net::awaitable<void> run();
  void send(std::string message);
  void close();

 private:
  void writeNext();
  net::awaitable<void> heartbeats(std::chrono::milliseconds every);
  void onMessage(std::string_view text);

  Bench& bench_;
  websocket::stream<beast::tcp_stream> ws_;
  net::steady_timer heartbeat_;
  std::size_t index_;
  std::deque<std::string> outbox_;
  bool writing_ = false;
  bool closed_ = false;
};

class Bench {
 public:
  explicit Bench(Options options) : options_(std::move(options)), wake_(io_), gate_(io_), window_(io_) {
    window_.expires_at(Clock::time_point::max());  // woken by cancel() only
  }
  int run();

  // From the agents and the event watcher.
  void onAgentReady() {
    ++agentsReady_;
    notify();
  }
  void onAgentFailed(const std::string& reason) {
    ++agentFailures_[reason];
    notify();
  }
  void onAssigned(const std::string& taskId, std::int64_t index);
  void onResultAck(const std::string& taskId, bool accepted, bool duplicate, const std::string& reason);
  void onOtherAck(const std::string& report, bool accepted, const std::string& reason);
  void onAgentMessage(const std::string& kind, const std::string& text);
  const Options& options() const { return options_; }
  const std::string& hostHeader() const { return hostHeader_; }
  const tcp::endpoint& endpoint() const { return endpoint_; }
  bool stopping() const { return stopping_; }

 private:
  net::awaitable<void> control();
  net::awaitable<void> submitter(std::size_t connection);
  net::awaitable<void> watcher();
  net::awaitable<bool> startAgents();
  net::awaitable<bool> startWatcher();
  net::awaitable<void> waitUntil(const std::function<bool()>& done, std::int64_t deadlineNs);
  net::awaitable<void> runSubmit();
  net::awaitable<void> runEndToEnd();
  net::awaitable<void> runOneAtATime();
  void notify() { wake_.cancel(); }
  // A task left the backlog (done, or its submit failed): one waiting submitter may go on.
  void slotFreed() {
    if (options_.window > 0) window_.cancel_one();
  }
  void stop() {
    stopping_ = true;
    window_.cancel();
    gate_.cancel();
  }
  // Task numbers taken, minus those done or whose submit failed.
  std::size_t outstanding() const {
    std::size_t done = options_.agents == 0 ? visibleCount_ : resultsAccepted_;
    return next_ - std::min(next_, done + (attempts_ - created_));
  }
  std::string bodyFor(std::size_t index) const;
  void onVisible(const std::string& taskId, std::int64_t at);
  std::int64_t indexOfId(const std::string& taskId) const {
    auto found = idToIndex_.find(taskId);
    return found == idToIndex_.end() ? kUnset : static_cast<std::int64_t>(found->second);
  }
  void printErrors();
  void printCpu(double wallSeconds);

  Options options_;
  net::io_context io_{1};
  net::steady_timer wake_;    // the controller's wait (one waiter: waitUntil)
  net::steady_timer gate_;    // the submitter's wait for its next round (one at a time)
  net::steady_timer window_;  // submitters waiting for the backlog to shrink (--window)
  tcp::endpoint endpoint_;
  std::string hostHeader_;
  std::vector<std::shared_ptr<Agent>> agents_;
  std::size_t agentsReady_ = 0;
  std::map<std::string, std::size_t> agentFailures_;
  bool stopping_ = false;
  bool watcherReady_ = false;
  std::optional<websocket::stream<beast::tcp_stream>> watchSocket_;

  // Submissions.
  std::size_t next_ = 0;                                           // the next task number a submitter takes
  std::size_t allowed_ = std::numeric_limits<std::size_t>::max();  // numbers below it may be taken
  std::size_t submittersLeft_ = 0;                                 // submitter coroutines still running
  std::int64_t submitStartNs_ = 0;
  std::int64_t submitDeadlineNs_ = 0;  // submit mode with --duration
  std::size_t created_ = 0;            // answers with the expected status
  std::size_t attempts_ = 0;           // task numbers taken and finished with, whatever the outcome
  std::map<std::string, std::size_t> httpErrors_;
  Distribution submitLatency_;  // submit mode: request written -> answer read

  // Per task (e2e and one): steady ns, kUnset until it happened.
  std::vector<std::int64_t> sentNs_, createdNs_, assignedNs_, resultNs_, visibleNs_;
  std::unordered_map<std::string, std::uint32_t> idToIndex_;
  std::unordered_map<std::string, std::int64_t> earlyVisible_;  // events that came before their 201
  std::size_t resultsAccepted_ = 0, visibleCount_ = 0, assignments_ = 0;
  std::size_t refusedResults_ = 0, duplicateResults_ = 0, unknownAssignments_ = 0, unknownAcks_ = 0;
  std::size_t reassigned_ = 0;
  std::map<std::string, std::size_t> refusedOther_;   // acks of accept/progress refused
  std::map<std::string, std::size_t> agentMessages_;  // error, drain, ...
  std::size_t watchEvents_ = 0;
};

// ---- Agent ----

net::awaitable<void> Agent::run() {
  auto self = shared_from_this();
  auto& stream = beast::get_lowest_layer(ws_);
  stream.expires_after(std::chrono::seconds(10));
  auto [connectError] = co_await stream.async_connect(bench_.endpoint(), kTuple);
  if (connectError) {
    bench_.onAgentFailed("connect: " + connectError.message());
    co_return;
  }
  stream.socket().set_option(tcp::no_delay(true));
  stream.expires_never();
  websocket::stream_base::timeout timeouts;
  timeouts.handshake_timeout = std::chrono::seconds(10);
  timeouts.idle_timeout = websocket::stream_base::none();
  timeouts.keep_alive_pings = false;
  ws_.set_option(timeouts);
  ws_.set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
    request.set(bhttp::field::sec_websocket_protocol, "hive.agent.v1");
  }));
  websocket::response_type response;
  auto [handshakeError] =
      co_await ws_.async_handshake(response, bench_.hostHeader(), "/api/v2/agents/connect", kTuple);
  if (handshakeError) {
    bench_.onAgentFailed("handshake: " + handshakeError.message() + " (HTTP " +
                         std::to_string(response.result_int()) + ")");
    co_return;
  }
  ws_.text(true);
  ws_.read_message_max(64 << 20);
  json::object hello{{"type", "hello"},
                     {"name", "bench-" + std::to_string(getpid()) + "-" + std::to_string(index_)},
                     {"role", "bench"},
                     {"capabilities", json::array{json::string(bench_.options().capability)}},
                     {"max_concurrency", bench_.options().concurrency}};
  auto [helloError, helloBytes] = co_await ws_.async_write(net::buffer(json::serialize(hello)), kTuple);
  if (helloError) {
    bench_.onAgentFailed("hello: " + helloError.message());
    co_return;
  }
  beast::flat_buffer buffer;
  auto [welcomeError, welcomeBytes] = co_await ws_.async_read(buffer, kTuple);
  if (welcomeError) {
    bench_.onAgentFailed("welcome: " + welcomeError.message());
    co_return;
  }
  std::string welcomeText = beast::buffers_to_string(buffer.cdata());
  buffer.consume(buffer.size());
  boost::system::error_code parseError;
  json::value welcome = json::parse(welcomeText, parseError);
  if (parseError || !welcome.is_object() || welcome.as_object().if_contains("type") == nullptr ||
      welcome.as_object().at("type") != "welcome") {
    bench_.onAgentFailed("hello refused: " + welcomeText.substr(0, 300));
    co_return;
  }
  std::int64_t heartbeatMs = 30'000;
  if (const auto* interval = welcome.as_object().if_contains("heartbeat_interval_ms");
      interval != nullptr && interval->is_int64())
    heartbeatMs = std::max<std::int64_t>(interval->as_int64(), 30);
  net::co_spawn(ws_.get_executor(), heartbeats(std::chrono::milliseconds(heartbeatMs / 3)), net::detached);
  bench_.onAgentReady();
  for (;;) {
    auto [readError, readBytes] = co_await ws_.async_read(buffer, kTuple);
    if (readError) {
      if (!bench_.stopping() && !closed_) {
        std::string reason = readError.message();
        if (ws_.reason().code != 0)
          reason += " (close " + std::to_string(ws_.reason().code) + " " +
                    std::string(ws_.reason().reason.data(), ws_.reason().reason.size()) + ")";
        bench_.onAgentFailed("connection lost: " + reason);
      }
      break;
    }
    auto data = buffer.cdata();
    onMessage(std::string_view(static_cast<const char*>(data.data()), data.size()));
    buffer.consume(buffer.size());
  }
  closed_ = true;
  heartbeat_.cancel();
}

net::awaitable<void> Agent::heartbeats(std::chrono::milliseconds every) {
  auto self = shared_from_this();
  while (!closed_) {
    heartbeat_.expires_after(every);
    auto [error] = co_await heartbeat_.async_wait(kTuple);
    if (error || closed_) co_return;
    send(R"({"type":"heartbeat"})");
  }
}

void Agent::send(std::string message) {
  if (closed_) return;
  outbox_.push_back(std::move(message));
  if (!writing_) writeNext();
}

void Agent::writeNext() {
  if (outbox_.empty() || closed_) {
    writing_ = false;
    return;
  }
  writing_ = true;
  ws_.async_write(net::buffer(outbox_.front()),
                  [self = shared_from_this()](const boost::system::error_code& error, std::size_t) {
                    self->outbox_.pop_front();
                    if (error) {
                      self->writing_ = false;
                      if (!self->bench_.stopping() && !self->closed_)
                        self->bench_.onAgentFailed("write: " + error.message());
                      self->closed_ = true;
                      return;
                    }
                    self->writeNext();
                  });
}

void Agent::close() {
  if (closed_) return;
  closed_ = true;
  heartbeat_.cancel();
  boost::system::error_code ignored;
  beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(ws_).socket().close(ignored);
}

void Agent::onMessage(std::string_view text) {
  boost::system::error_code error;
  json::value message = json::parse(text, error);
  if (error || !message.is_object()) {
    bench_.onAgentMessage("unparsable", std::string(text.substr(0, 200)));
    return;
  }
  const auto& object = message.as_object();
  const auto* type = object.if_contains("type");
  std::string_view kind = type != nullptr && type->is_string() ? std::string_view(type->get_string()) : "";
  if (kind == "task.assign") {
    const auto* task = object.if_contains("task");
    if (task == nullptr || !task->is_object()) {
      bench_.onAgentMessage("task.assign without task", std::string(text.substr(0, 200)));
      return;
    }
    std::string taskId = scalarText(task->as_object().if_contains("id"));
    std::string lease = scalarText(object.if_contains("lease_token"));
    std::int64_t index = kUnset;
    if (const auto* payload = task->as_object().if_contains("payload");
        payload != nullptr && payload->is_object())
      if (const auto* i = payload->as_object().if_contains("i"); i != nullptr && i->is_int64())
        index = i->as_int64();
    bench_.onAssigned(taskId, index);
    json::string idJson(taskId), leaseJson(lease);
    std::string idText = json::serialize(idJson), leaseText = json::serialize(leaseJson);
    if (bench_.options().accept)
      send(R"({"type":"task.accept","task_id":)" + idText + R"(,"lease_token":)" + leaseText + "}");
    send(R"({"type":"task.result","task_id":)" + idText + R"(,"lease_token":)" + leaseText +
         R"(,"status":"succeeded","result":{"i":)" + std::to_string(index) + "}}");
  } else if (kind == "task.ack") {
    std::string report = scalarText(object.if_contains("report"));
    const auto* accepted = object.if_contains("accepted");
    const auto* duplicate = object.if_contains("duplicate");
    bool isAccepted = accepted != nullptr && accepted->is_bool() && accepted->get_bool();
    bool isDuplicate = duplicate != nullptr && duplicate->is_bool() && duplicate->get_bool();
    std::string reason = scalarText(object.if_contains("reason"));
    if (report == "result")
      bench_.onResultAck(scalarText(object.if_contains("task_id")), isAccepted, isDuplicate, reason);
    else
      bench_.onOtherAck(report, isAccepted, reason);
  } else if (kind == "heartbeat.ack") {
    // Nothing to do: the connection is alive.
  } else {
    bench_.onAgentMessage(std::string(kind), std::string(text.substr(0, 300)));
  }
}

// ---- Bench: events from the agents and the watcher ----

void Bench::onAssigned(const std::string& taskId, std::int64_t index) {
  ++assignments_;
  if (index < 0 || static_cast<std::size_t>(index) >= assignedNs_.size()) {
    ++unknownAssignments_;
    return;
  }
  auto slot = static_cast<std::size_t>(index);
  idToIndex_[taskId] = static_cast<std::uint32_t>(index);
  if (assignedNs_[slot] == kUnset)
    assignedNs_[slot] = nowNs();
  else
    ++reassigned_;
}

void Bench::onResultAck(const std::string& taskId, bool accepted, bool duplicate, const std::string& reason) {
  std::int64_t index = indexOfId(taskId);
  if (index == kUnset) {
    ++unknownAcks_;
    return;
  }
  if (!accepted) {
    ++refusedResults_;
    ++refusedOther_["result: " + reason.substr(0, 120)];
    return;
  }
  if (duplicate) ++duplicateResults_;
  auto slot = static_cast<std::size_t>(index);
  if (resultNs_[slot] == kUnset) {
    resultNs_[slot] = nowNs();
    ++resultsAccepted_;
    if (options_.agents > 0) slotFreed();
    notify();
  }
}

void Bench::onOtherAck(const std::string& report, bool accepted, const std::string& reason) {
  if (!accepted) ++refusedOther_[report + ": " + reason.substr(0, 120)];
}

void Bench::onAgentMessage(const std::string& kind, const std::string& text) {
  if (agentMessages_[kind]++ < 3) std::printf("  agent got %s: %s\n", kind.c_str(), text.c_str());
}

void Bench::onVisible(const std::string& taskId, std::int64_t at) {
  std::int64_t index = indexOfId(taskId);
  if (index == kUnset) {
    earlyVisible_.emplace(taskId, at);  // its 201 is still on the way
    return;
  }
  auto slot = static_cast<std::size_t>(index);
  if (visibleNs_[slot] == kUnset) {
    visibleNs_[slot] = at;
    ++visibleCount_;
    if (options_.agents == 0) slotFreed();
    notify();
  }
}

// ---- Bench: connections ----

net::awaitable<bool> Bench::startAgents() {
  for (std::size_t i = 0; i < options_.agents; ++i) {
    agents_.push_back(std::make_shared<Agent>(*this, io_, i));
    net::co_spawn(io_, agents_.back()->run(), net::detached);
  }
  co_await waitUntil([this] { return agentsReady_ >= options_.agents || !agentFailures_.empty(); },
                     nowNs() + 15'000'000'000);
  if (agentsReady_ < options_.agents) {
    std::printf("agents: %zu of %zu welcomed\n", agentsReady_, options_.agents);
    printErrors();
    co_return false;
  }
  co_return true;
}

net::awaitable<bool> Bench::startWatcher() {
  net::co_spawn(io_, watcher(), net::detached);
  co_await waitUntil([this] { return watcherReady_ || !agentFailures_.empty(); }, nowNs() + 10'000'000'000);
  if (!watcherReady_) {
    std::printf("event watcher: not subscribed\n");
    printErrors();
  }
  co_return watcherReady_;
}

// A client of /api/v2/ws subscribed to `tasks`: marks tasks visible on their
// `task.succeeded` event.
net::awaitable<void> Bench::watcher() {
  watchSocket_.emplace(io_);
  auto& ws = *watchSocket_;
  auto& stream = beast::get_lowest_layer(ws);
  stream.expires_after(std::chrono::seconds(10));
  auto [connectError] = co_await stream.async_connect(endpoint_, kTuple);
  if (connectError) {
    onAgentFailed("watcher connect: " + connectError.message());
    co_return;
  }
  stream.socket().set_option(tcp::no_delay(true));
  stream.expires_never();
  websocket::stream_base::timeout timeouts;
  timeouts.handshake_timeout = std::chrono::seconds(10);
  timeouts.idle_timeout = websocket::stream_base::none();
  timeouts.keep_alive_pings = false;
  ws.set_option(timeouts);
  ws.set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
    request.set(bhttp::field::sec_websocket_protocol, "hive.v1");
  }));
  ws.read_message_max(64 << 20);
  auto [handshakeError] = co_await ws.async_handshake(hostHeader_, "/api/v2/ws", kTuple);
  if (handshakeError) {
    onAgentFailed("watcher handshake: " + handshakeError.message());
    co_return;
  }
  ws.text(true);
  auto [writeError, written] = co_await ws.async_write(
      net::buffer(std::string(R"({"type":"subscribe","id":"bench","topic":"tasks"})")), kTuple);
  if (writeError) {
    onAgentFailed("watcher subscribe: " + writeError.message());
    co_return;
  }
  beast::flat_buffer buffer;
  for (;;) {
    auto [readError, readBytes] = co_await ws.async_read(buffer, kTuple);
    std::int64_t at = nowNs();
    if (readError) {
      if (!stopping_) {
        std::string reason = readError.message();
        if (ws.reason().code != 0) reason += " (close " + std::to_string(ws.reason().code) + ")";
        onAgentFailed("watcher connection lost: " + reason);
      }
      co_return;
    }
    auto data = buffer.cdata();
    std::string_view text(static_cast<const char*>(data.data()), data.size());
    // Most frames are events of other transitions: look before parsing.
    if (!watcherReady_ && text.find(R"("subscribed")") != std::string_view::npos) {
      watcherReady_ = true;
      notify();
    } else if (text.find("task.succeeded") != std::string_view::npos) {
      boost::system::error_code error;
      json::value envelope = json::parse(text, error);
      const json::value* task = nullptr;
      if (!error && envelope.is_object())
        if (const auto* payload = envelope.as_object().if_contains("payload");
            payload != nullptr && payload->is_object() &&
            payload->as_object().if_contains("event") != nullptr &&
            payload->as_object().at("event") == "task.succeeded")
          task = payload->as_object().if_contains("task");
      if (task != nullptr && task->is_object()) {
        ++watchEvents_;
        onVisible(scalarText(task->as_object().if_contains("id")), at);
      }
    } else if (text.find(R"("type":"error")") != std::string_view::npos) {
      onAgentMessage("watcher error", std::string(text.substr(0, 300)));
    }
    buffer.consume(buffer.size());
  }
}

std::string Bench::bodyFor(std::size_t index) const {
  return replaceAll(replaceAll(options_.body, "{cap}", options_.capability), "{i}", std::to_string(index));
}

// One keep-alive connection, one request in flight; takes task numbers from
// next_ until the count, the duration or the run's end.
net::awaitable<void> Bench::submitter(std::size_t connection) {
  (void)connection;
  beast::tcp_stream stream(io_);
  bool connected = false;
  beast::flat_buffer buffer;
  bool perTask = options_.mode != Mode::kSubmit;
  bool wantId = perTask && (options_.watch || options_.agents == 0);
  for (;;) {
    if (stopping_) break;
    if (options_.tasks > 0 && next_ >= options_.tasks) break;
    if (submitDeadlineNs_ > 0 && nowNs() >= submitDeadlineNs_) break;
    // One at a time: the controller opens the gate for each round; the
    // connection stays open between rounds, as a client's would.
    if (next_ >= allowed_) {
      gate_.expires_after(std::chrono::milliseconds(100));
      co_await gate_.async_wait(kTuple);
      continue;  // everything above may have changed meanwhile
    }
    // At most --window tasks submitted and not done: a server slower than the
    // submitters gets a bounded backlog, and a run that times out leaves at
    // most that many tasks behind in the store.
    if (options_.window > 0 && outstanding() >= options_.window) {
      co_await window_.async_wait(kTuple);
      continue;
    }
    std::size_t index = next_++;
    if (perTask && index >= sentNs_.size()) break;  // never past the per-task arrays
    if (options_.rate > 0) {
      auto due = submitStartNs_ + static_cast<std::int64_t>(static_cast<double>(index) * 1e9 / options_.rate);
      if (due > nowNs()) {
        net::steady_timer timer(io_);
        timer.expires_at(Clock::time_point(std::chrono::nanoseconds(due)));
        co_await timer.async_wait(kTuple);
      }
    }
    if (!connected) {
      stream.expires_after(std::chrono::seconds(10));
      auto [error] = co_await stream.async_connect(endpoint_, kTuple);
      if (error) {
        ++httpErrors_["connect: " + error.message()];
        ++attempts_;
        slotFreed();
        notify();
        // A refused connect fails at once: pause rather than spin on it.
        net::steady_timer pause(io_);
        pause.expires_after(std::chrono::milliseconds(100));
        co_await pause.async_wait(kTuple);
        continue;
      }
      stream.socket().set_option(tcp::no_delay(true));
      connected = true;
    }
    bhttp::request<bhttp::string_body> request(bhttp::verb::post, options_.path, 11);
    request.set(bhttp::field::host, hostHeader_);
    request.set(bhttp::field::content_type, "application/json");
    request.keep_alive(true);
    request.body() = bodyFor(index);
    request.prepare_payload();
    stream.expires_after(std::chrono::seconds(30));
    std::int64_t sent = nowNs();
    if (perTask) sentNs_[index] = sent;
    auto [writeError, written] = co_await bhttp::async_write(stream, request, kTuple);
    bhttp::response<bhttp::string_body> response;
    boost::system::error_code readError;
    if (!writeError)
      std::tie(readError, std::ignore) = co_await bhttp::async_read(stream, buffer, response, kTuple);
    std::int64_t answered = nowNs();
    if (writeError || readError) {
      ++httpErrors_[(writeError ? "write: " + writeError.message() : "read: " + readError.message())];
      boost::system::error_code ignored;
      stream.socket().close(ignored);
      connected = false;
      buffer.clear();
      ++attempts_;
      slotFreed();
      notify();
      continue;
    }
    if (response.result_int() != options_.expectStatus) {
      ++httpErrors_["HTTP " + std::to_string(response.result_int()) + " " + response.body().substr(0, 160)];
      ++attempts_;
      slotFreed();
      notify();
      continue;
    }
    ++created_;
    ++attempts_;
    if (!perTask) {
      submitLatency_.add(answered - sent);
    } else {
      createdNs_[index] = answered;
      if (wantId) {
        boost::system::error_code error;
        json::value created = json::parse(response.body(), error);
        if (!error && created.is_object()) {
          std::string taskId = scalarText(created.as_object().if_contains("id"));
          idToIndex_[taskId] = static_cast<std::uint32_t>(index);
          if (auto early = earlyVisible_.find(taskId); early != earlyVisible_.end()) {
            onVisible(taskId, early->second);
            earlyVisible_.erase(early);
          }
        }
      }
      notify();
    }
    if (!response.keep_alive()) {
      boost::system::error_code ignored;
      stream.socket().close(ignored);
      connected = false;
    }
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  --submittersLeft_;
  notify();
}

// Sleeps until `done()` or the deadline; handlers call notify() when something changed.
net::awaitable<void> Bench::waitUntil(const std::function<bool()>& done, std::int64_t deadlineNs) {
  while (!done() && nowNs() < deadlineNs) {
    wake_.expires_after(std::chrono::milliseconds(100));
    co_await wake_.async_wait(kTuple);
  }
}

void Bench::printErrors() {
  for (const auto& [reason, count] : httpErrors_) std::printf("  %8zu x submit %s\n", count, reason.c_str());
  for (const auto& [reason, count] : agentFailures_)
    std::printf("  %8zu x agent %s\n", count, reason.c_str());
  for (const auto& [reason, count] : refusedOther_)
    std::printf("  %8zu x refused %s\n", count, reason.c_str());
  for (const auto& [kind, count] : agentMessages_)
    std::printf("  %8zu x agent got %s\n", count, kind.c_str());
}

// ---- modes ----

net::awaitable<void> Bench::runSubmit() {
  double cpu0 = processCpuSeconds();
  auto server0 = serverCpuSeconds(options_.serverPid);
  submitStartNs_ = nowNs();
  if (options_.durationSeconds > 0)
    submitDeadlineNs_ = submitStartNs_ + static_cast<std::int64_t>(options_.durationSeconds * 1e9);
  submittersLeft_ = options_.connections;
  for (std::size_t c = 0; c < options_.connections; ++c) net::co_spawn(io_, submitter(c), net::detached);
  co_await waitUntil([this] { return submittersLeft_ == 0; },
                     nowNs() + static_cast<std::int64_t>(options_.timeoutSeconds * 1e9));
  stop();
  double wall = ms(nowNs() - submitStartNs_) / 1e3;
  submitLatency_.sort();
  std::size_t errors = 0;
  for (const auto& [reason, count] : httpErrors_) errors += count;
  double rps = static_cast<double>(created_) / wall;
  std::printf(
      "submit: %zu x %u in %.2f s on %zu connections: %.0f req/s; latency p50 %.2f ms, p99 %.2f ms; %zu "
      "errors\n",
      created_, options_.expectStatus, wall, options_.connections, rps, submitLatency_.percentileMs(50),
      submitLatency_.percentileMs(99), errors);
  printErrors();
  double clientCpu = processCpuSeconds() - cpu0;
  auto server1 = serverCpuSeconds(options_.serverPid);
  std::printf("cpu: client %.0f%% of a core", clientCpu / wall * 100);
  if (server0 && server1) std::printf(", server %.0f%%", (*server1 - *server0) / wall * 100);
  std::printf(" (100%% = one core; %ld cores)\n", sysconf(_SC_NPROCESSORS_ONLN));
  std::printf(
      "RESULT label=%s mode=submit ok=%zu errors=%zu seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f "
      "client_cpu=%.0f\n",
      options_.label.c_str(), created_, errors, wall, rps, submitLatency_.percentileMs(50),
      submitLatency_.percentileMs(99), clientCpu / wall * 100);
}

net::awaitable<void> Bench::runEndToEnd() {
  std::size_t total = options_.tasks;
  bool external = options_.agents == 0;
  double cpu0 = processCpuSeconds();
  auto server0 = serverCpuSeconds(options_.serverPid);
  submitStartNs_ = nowNs();
  submittersLeft_ = std::min(options_.connections, total);
  for (std::size_t c = 0; c < submittersLeft_; ++c) net::co_spawn(io_, submitter(c), net::detached);
  std::int64_t deadline = submitStartNs_ + static_cast<std::int64_t>(options_.timeoutSeconds * 1e9);
  auto finished = [&] {
    std::size_t done = external ? visibleCount_ : resultsAccepted_;
    if (options_.watch && !external) done = std::min(done, visibleCount_);
    return submittersLeft_ == 0 && done >= created_;
  };
  co_await waitUntil(finished, deadline);
  bool timedOut = !finished();
  stop();

  Distribution toCreated, toAssigned, toResult, toVisible;
  std::int64_t firstSent = std::numeric_limits<std::int64_t>::max(), lastSent = 0, lastDone = 0;
  std::size_t done = 0;
  for (std::size_t i = 0; i < total; ++i) {
    if (sentNs_[i] == kUnset) continue;
    firstSent = std::min(firstSent, sentNs_[i]);
    lastSent = std::max(lastSent, sentNs_[i]);
    if (createdNs_[i] != kUnset) toCreated.add(createdNs_[i] - sentNs_[i]);
    if (assignedNs_[i] != kUnset) toAssigned.add(assignedNs_[i] - sentNs_[i]);
    if (resultNs_[i] != kUnset) toResult.add(resultNs_[i] - sentNs_[i]);
    if (visibleNs_[i] != kUnset) toVisible.add(visibleNs_[i] - sentNs_[i]);
    std::int64_t end = external ? visibleNs_[i] : resultNs_[i];
    if (end != kUnset) {
      ++done;
      lastDone = std::max(lastDone, end);
    }
  }
  for (auto* distribution : {&toCreated, &toAssigned, &toResult, &toVisible}) distribution->sort();
  double wall = done > 0 ? ms(lastDone - firstSent) / 1e3 : ms(nowNs() - submitStartNs_) / 1e3;
  double submitWall = ms(lastSent - firstSent) / 1e3;
  double tps = static_cast<double>(done) / wall;
  std::size_t errors = 0;
  for (const auto& [reason, count] : httpErrors_) errors += count;
  std::printf("e2e: %zu of %zu tasks done in %.2f s (first submit to last %s): %.0f tasks/s%s\n", done, total,
              wall, external ? "task.succeeded event" : "result acknowledged", tps,
              timedOut ? " -- TIMED OUT" : "");
  std::printf(
      "e2e: submits %zu x 201 in %.2f s (%.0f/s%s), %zu errors\n", created_, submitWall,
      submitWall > 0 ? static_cast<double>(created_) / submitWall : 0.0,
      options_.rate > 0 ? (", asked " + std::to_string(static_cast<long>(options_.rate)) + "/s").c_str() : "",
      errors);
  auto line = [](const char* what, const Distribution& d) {
    if (d.values.empty()) return;
    std::printf("  %-30s n=%-7zu p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms\n", what, d.values.size(),
                d.percentileMs(50), d.percentileMs(99), ms(d.values.back()));
  };
  line("submit -> 201", toCreated);
  line("submit -> task.assign", toAssigned);
  line("submit -> result acknowledged", toResult);
  line("submit -> task.succeeded event", toVisible);
  std::printf(
      "  assignments %zu (again after a first: %zu), results refused %zu, duplicates %zu, unknown %zu/%zu\n",
      assignments_, reassigned_, refusedResults_, duplicateResults_, unknownAssignments_, unknownAcks_);
  printErrors();
  double clientCpu = processCpuSeconds() - cpu0;
  auto server1 = serverCpuSeconds(options_.serverPid);
  double elapsed = ms(nowNs() - submitStartNs_) / 1e3;
  std::printf("cpu: client %.0f%% of a core", clientCpu / elapsed * 100);
  if (server0 && server1) std::printf(", server %.0f%%", (*server1 - *server0) / elapsed * 100);
  std::printf(" (over %.2f s; 100%% = one core)\n", elapsed);
  const Distribution& latency = external ? toVisible : toResult;
  std::printf(
      "RESULT label=%s mode=e2e tasks=%zu created=%zu done=%zu errors=%zu timed_out=%d seconds=%.3f tps=%.1f "
      "submit_rps=%.1f "
      "created_p50_ms=%.3f created_p99_ms=%.3f assigned_p50_ms=%.3f assigned_p99_ms=%.3f result_p50_ms=%.3f "
      "result_p99_ms=%.3f refused=%zu client_cpu=%.0f\n",
      options_.label.c_str(), total, created_, done, errors, timedOut ? 1 : 0, wall, tps,
      submitWall > 0 ? static_cast<double>(created_) / submitWall : 0.0, toCreated.percentileMs(50),
      toCreated.percentileMs(99), toAssigned.percentileMs(50), toAssigned.percentileMs(99),
      latency.percentileMs(50), latency.percentileMs(99), refusedResults_, clientCpu / elapsed * 100);
}

net::awaitable<void> Bench::runOneAtATime() {
  std::size_t rounds = options_.rounds;
  bool agents = options_.agents > 0;
  submitStartNs_ = nowNs();
  std::int64_t deadline = submitStartNs_ + static_cast<std::int64_t>(options_.timeoutSeconds * 1e9);
  std::size_t completed = 0;
  bool timedOut = false;
  options_.tasks = rounds;
  allowed_ = 0;
  submittersLeft_ = 1;
  net::co_spawn(io_, submitter(0), net::detached);
  for (std::size_t round = 0; round < rounds && !timedOut; ++round) {
    allowed_ = round + 1;
    gate_.cancel();
    auto settled = [this, round, agents] {
      if (createdNs_[round] == kUnset) return attempts_ > round;  // its submit failed
      return visibleNs_[round] != kUnset && (!agents || resultNs_[round] != kUnset);
    };
    co_await waitUntil(settled, std::min(deadline, nowNs() + 10'000'000'000));
    if (createdNs_[round] != kUnset && visibleNs_[round] != kUnset &&
        (!agents || resultNs_[round] != kUnset)) {
      ++completed;
    } else if (createdNs_[round] != kUnset) {
      timedOut = true;
      std::printf("one: task %zu not visible as succeeded within 10 s\n", round);
    }
  }
  stop();
  Distribution toCreated, toAssigned, toResult, toVisible;
  for (std::size_t i = 0; i < rounds; ++i) {
    if (sentNs_[i] == kUnset) continue;
    if (createdNs_[i] != kUnset) toCreated.add(createdNs_[i] - sentNs_[i]);
    if (assignedNs_[i] != kUnset) toAssigned.add(assignedNs_[i] - sentNs_[i]);
    if (resultNs_[i] != kUnset) toResult.add(resultNs_[i] - sentNs_[i]);
    if (visibleNs_[i] != kUnset) toVisible.add(visibleNs_[i] - sentNs_[i]);
  }
  for (auto* distribution : {&toCreated, &toAssigned, &toResult, &toVisible}) distribution->sort();
  std::printf("one at a time: %zu of %zu rounds%s\n", completed, rounds, timedOut ? " -- TIMED OUT" : "");
  auto line = [](const char* what, const Distribution& d) {
    if (d.values.empty()) return;
    std::printf("  %-30s n=%-7zu p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms\n", what, d.values.size(),
                d.percentileMs(50), d.percentileMs(99), ms(d.values.back()));
  };
  line("submit -> 201", toCreated);
  line("submit -> task.assign", toAssigned);
  line("submit -> result acknowledged", toResult);
  line("submit -> task.succeeded event", toVisible);
  printErrors();
  std::printf(
      "RESULT label=%s mode=one rounds=%zu done=%zu timed_out=%d created_p50_ms=%.3f created_p99_ms=%.3f "
      "assigned_p50_ms=%.3f assigned_p99_ms=%.3f result_p50_ms=%.3f result_p99_ms=%.3f visible_p50_ms=%.3f "
      "visible_p99_ms=%.3f\n",
      options_.label.c_str(), rounds, completed, timedOut ? 1 : 0, toCreated.percentileMs(50),
      toCreated.percentileMs(99), toAssigned.percentileMs(50), toAssigned.percentileMs(99),
      toResult.percentileMs(50), toResult.percentileMs(99), toVisible.percentileMs(50),
      toVisible.percentileMs(99));
}

net::awaitable<void> Bench::control() {
  bool ready = true;
  if (options_.mode != Mode::kSubmit) {
    if (options_.watch && !co_await startWatcher()) ready = false;
    if (ready && options_.agents > 0 && !co_await startAgents()) ready = false;
  }
  if (ready) {
    switch (options_.mode) {
      case Mode::kSubmit: co_await runSubmit(); break;
      case Mode::kEndToEnd: co_await runEndToEnd(); break;
      case Mode::kOneAtATime: co_await runOneAtATime(); break;
    }
  }
  stop();
  for (auto& agent : agents_) agent->close();
  if (watchSocket_) {
    boost::system::error_code ignored;
    beast::get_lowest_layer(*watchSocket_).socket().close(ignored);
  }
  io_.stop();
}

int Bench::run() {
  boost::system::error_code error;
  auto address = net::ip::make_address(options_.host, error);
  if (error) {
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(options_.host, std::to_string(options_.port), error);
    if (error || results.empty()) {
      std::fprintf(stderr, "bench_tasks: cannot resolve %s: %s\n", options_.host.c_str(),
                   error.message().c_str());
      return 2;
    }
    endpoint_ = *results.begin();
  } else {
    endpoint_ = tcp::endpoint(address, options_.port);
  }
  hostHeader_ = options_.host + ":" + std::to_string(options_.port);
  std::size_t slots = options_.mode == Mode::kOneAtATime ? options_.rounds : options_.tasks;
  if (options_.mode != Mode::kSubmit)
    for (auto* times : {&sentNs_, &createdNs_, &assignedNs_, &resultNs_, &visibleNs_})
      times->assign(slots, kUnset);
  net::co_spawn(io_, control(), [](const std::exception_ptr& failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_tasks: %s\n", e.what());
      std::abort();
    }
  });
  io_.run();
  std::fflush(stdout);
  bool failed = !agentFailures_.empty() || !httpErrors_.empty() || refusedResults_ > 0;
  return failed ? 1 : 0;
}

int runMain(int argc, char** argv) {
  Options options;
  CLI::App app{
      "Figures for Hive's task path: submit throughput, end to end through remote agents, one at a time"};
  std::map<std::string, Mode> modes{
      {"submit", Mode::kSubmit}, {"e2e", Mode::kEndToEnd}, {"one", Mode::kOneAtATime}};
  app.add_option("--host", options.host, "server address")->capture_default_str();
  app.add_option("--port", options.port, "server port")->required();
  app.add_option("--mode", options.mode, "submit | e2e | one")
      ->required()
      ->transform(CLI::CheckedTransformer(modes, CLI::ignore_case));
  app.add_option("--connections,-c", options.connections, "HTTP keep-alive connections submitting")
      ->capture_default_str()
      ->check(CLI::Range(1, 10'000));
  app.add_option("--duration", options.durationSeconds, "submit: seconds to run (instead of --tasks)");
  app.add_option("--tasks,-n", options.tasks,
                 "tasks to submit (e2e: required; submit: instead of --duration)")
      ->check(CLI::Range(1, 50'000'000));
  app.add_option("--agents,-a", options.agents,
                 "built-in agents (WebSocket connections); e2e with 0: agents are other processes, "
                 "completion is the task.succeeded event")
      ->capture_default_str()
      ->check(CLI::Range(0, 10'000));
  app.add_option("--concurrency,-k", options.concurrency, "max_concurrency each agent announces")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_flag("--accept", options.accept,
               "agents send task.accept before task.result, as the example agent does");
  app.add_option("--rate", options.rate,
                 "e2e: submit at this many tasks/s (0: as fast as the connections go)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10'000'000.0));
  app.add_option("--window", options.window,
                 "e2e: at most this many tasks submitted and not yet done (0: no bound)")
      ->capture_default_str();
  app.add_option("--rounds", options.rounds, "one: tasks, one at a time")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--path", options.path, "POST target")->capture_default_str();
  app.add_option("--body", options.body,
                 "POST body; {i} becomes the task's number, {cap} the capability "
                 "(default: a no-op task needing the capability, payload {\"i\":N})");
  app.add_option("--capability", options.capability,
                 "the capability tasks need and agents have (default bench-<pid>)");
  app.add_option("--expect-status", options.expectStatus, "the answer a submit must get")
      ->capture_default_str();
  app.add_flag(
      "--watch", options.watch,
      "e2e: also follow task.succeeded events on /api/v2/ws (a client's view; adds the events' cost)");
  app.add_option("--timeout", options.timeoutSeconds, "seconds the whole run may take")
      ->capture_default_str();
  app.add_option("--server-pid", options.serverPid, "pid of the server, for its CPU time");
  app.add_option("--label", options.label, "name of the run in the RESULT line")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (options.capability.empty()) options.capability = "bench-" + std::to_string(getpid());
  if (options.body.empty()) options.body = R"({"type":"noop","capabilities":["{cap}"],"payload":{"i":{i}}})";
  if (options.mode == Mode::kSubmit && options.tasks == 0 && options.durationSeconds <= 0) {
    std::fprintf(stderr, "bench_tasks: --mode submit needs --duration or --tasks\n");
    return 2;
  }
  if (options.mode == Mode::kEndToEnd && options.tasks == 0) {
    std::fprintf(stderr, "bench_tasks: --mode e2e needs --tasks\n");
    return 2;
  }
  if (options.mode != Mode::kSubmit && options.body.find("{i}") == std::string::npos) {
    std::fprintf(stderr,
                 "bench_tasks: the body must carry {i} in its payload (\"i\":{i}) to follow each task\n");
    return 2;
  }
  if (options.mode == Mode::kEndToEnd && options.agents == 0) options.watch = true;
  if (options.mode == Mode::kOneAtATime) {
    options.watch = true;
    options.connections = 1;
  }
  Bench bench(std::move(options));
  return bench.run();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return runMain(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_tasks: %s\n", e.what());
    return 2;
  } catch (...) {
    std::fprintf(stderr, "bench_tasks: unknown exception\n");
    return 2;
  }
}
