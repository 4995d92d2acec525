#include "hive/testing/routes.hpp"

#include <condition_variable>
#include <utility>

namespace hive::testing {
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoded; a malformed escape is kept as it is. In a query, '+' is a space.
std::string percentDecode(std::string_view text, bool plusIsSpace) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int high = hexValue(text[i + 1]), low = hexValue(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(plusIsSpace && text[i] == '+' ? ' ' : text[i]);
  }
  return out;
}

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = path.starts_with('/') ? 1 : 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// What the provider's peer and the test's end of a connection share. The
// session usually holds its peer: the peer must not hold the session back.
struct Wire {
  explicit Wire(std::size_t bound) : sendQueue(bound) {}
  const std::size_t sendQueue;
  mutable std::mutex mutex;
  bool closed = false;
  std::optional<std::uint16_t> closedBy;
  std::vector<std::string> received;
};

class Peer final : public http::WebSocketPeer {
 public:
  Peer(std::string id, std::shared_ptr<Wire> wire) : id_(std::move(id)), wire_(std::move(wire)) {}

  // http::WebSocketPeer
  Status send(std::string text) override {
    std::lock_guard lock(wire_->mutex);
    if (wire_->closed) return unavailable("the WebSocket is closed");
    if (wire_->received.size() >= wire_->sendQueue)
      return Status(StatusCode::kResourceExhausted,
                    "send queue full (" + std::to_string(wire_->sendQueue) + ")");
    wire_->received.push_back(std::move(text));
    return okStatus();
  }
  void close(std::uint16_t code, std::string /*reason*/) override {
    std::lock_guard lock(wire_->mutex);
    if (wire_->closed) return;
    wire_->closed = true;
    wire_->closedBy = code;
  }
  const std::string& id() const override { return id_; }

 private:
  const std::string id_;
  const std::shared_ptr<Wire> wire_;
};

class Connection final : public TestWebSocket {
 public:
  Connection(std::shared_ptr<Wire> wire, std::shared_ptr<http::RouteProvider> provider,
             std::shared_ptr<http::WebSocketSession> session)
      : wire_(std::move(wire)), provider_(std::move(provider)), session_(std::move(session)) {}
  ~Connection() override { close(1006); }

  // TestWebSocket
  Status send(std::string_view text) override {
    std::lock_guard calls(calls_);
    {
      std::lock_guard lock(wire_->mutex);
      if (wire_->closed || !session_) return unavailable("the WebSocket is closed");
    }
    session_->onMessage(text);
    return okStatus();
  }
  void close(std::uint16_t code) override {
    std::lock_guard calls(calls_);
    if (!session_) return;
    {
      std::lock_guard lock(wire_->mutex);
      wire_->closed = true;
    }
    session_->onClose(code);
    // As the server does: the session and the hold on its provider go with the connection.
    session_.reset();
    provider_.reset();
  }
  std::vector<std::string> received() const override {
    std::lock_guard lock(wire_->mutex);
    return wire_->received;
  }
  std::optional<std::uint16_t> closedByProvider() const override {
    std::lock_guard lock(wire_->mutex);
    return wire_->closedBy;
  }

 private:
  const std::shared_ptr<Wire> wire_;
  std::mutex calls_;  // calls into the session never overlap
  std::shared_ptr<http::RouteProvider> provider_;
  std::shared_ptr<http::WebSocketSession> session_;
};

}  // namespace

bool matchRoutePath(std::string_view pattern, std::string_view path,
                    std::map<std::string, std::string, std::less<>>* params) {
  auto wanted = segments(pattern);
  auto given = segments(path);
  if (wanted.size() != given.size()) return false;
  std::map<std::string, std::string, std::less<>> found;
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    std::string_view part = wanted[i];
    if (part.size() > 2 && part.front() == '{' && part.back() == '}') {
      if (given[i].empty()) return false;
      found[std::string(part.substr(1, part.size() - 2))] = percentDecode(given[i], false);
    } else if (part != given[i]) {
      return false;
    }
  }
  if (params) *params = std::move(found);
  return true;
}

RouteClient::RouteClient(ServiceRegistry& services, std::string provider)
    : RouteClient(services, std::move(provider), Options{}) {}
RouteClient::RouteClient(ServiceRegistry& services, std::string provider, Options options)
    : services_(&services), providerName_(std::move(provider)), options_(std::move(options)) {}
RouteClient::RouteClient(std::shared_ptr<http::RouteProvider> provider)
    : RouteClient(std::move(provider), Options{}) {}
RouteClient::RouteClient(std::shared_ptr<http::RouteProvider> provider, Options options)
    : fixed_(std::move(provider)), options_(std::move(options)) {}

Result<std::shared_ptr<http::RouteProvider>> RouteClient::provider() {
  if (fixed_) return fixed_;
  for (auto& lease : services_->lookup(http::RouteProvider::kServiceId))
    if (providerName_.empty() || lease.provider == providerName_)
      return std::static_pointer_cast<http::RouteProvider>(std::move(lease.service));
  return unavailable("no provider " + (providerName_.empty() ? std::string() : "'" + providerName_ + "' ") +
                     "of hive.routes/1");
}

http::Request RouteClient::makeRequest(std::string_view method, std::string_view target, std::string body,
                                       std::vector<http::Header> headers) const {
  http::Request request;
  request.method = std::string(method);
  request.target = std::string(target);
  std::size_t question = target.find('?');
  request.path = percentDecode(target.substr(0, question), false);
  if (question != std::string_view::npos) {
    std::string_view query = target.substr(question + 1);
    while (!query.empty()) {
      std::size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      std::size_t equals = pair.find('=');
      if (!pair.empty())
        request.query.emplace_back(
            percentDecode(pair.substr(0, equals), true),
            equals == std::string_view::npos ? std::string() : percentDecode(pair.substr(equals + 1), true));
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    }
  }
  for (auto& header : headers) {
    for (auto& c : header.name)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  request.headers = std::move(headers);
  request.body = std::move(body);
  request.principal = options_.principal;
  request.remoteAddress = options_.remoteAddress;
  return request;
}

Result<http::Response> RouteClient::request(std::string_view method, std::string_view target,
                                            std::string body, std::vector<http::Header> headers) {
  auto provider = HIVE_TRY(this->provider());
  http::Request request = makeRequest(method, target, std::move(body), std::move(headers));
  {
    std::lock_guard lock(mutex_);
    request.requestId = "test-" + std::to_string(++serial_);
  }
  const http::Route* chosen = nullptr;
  std::string allowed;
  auto routes = provider->routes();
  for (const auto& route : routes) {
    std::map<std::string, std::string, std::less<>> params;
    if (!matchRoutePath(route.path, request.path, &params)) continue;
    if (route.method != request.method) {
      allowed += (allowed.empty() ? "" : ", ") + route.method;
      continue;
    }
    request.params = std::move(params);
    chosen = &route;
    break;
  }
  if (chosen == nullptr && allowed.empty())
    return http::problem(404, "Not Found", "no route for " + request.path);
  if (chosen == nullptr) {
    http::Response response = http::problem(405, "Method Not Allowed");
    response.headers.push_back({"allow", allowed});
    return response;
  }
  if (chosen->maxBodyBytes != 0 && request.body.size() > chosen->maxBodyBytes)
    return http::problem(413, "Content Too Large",
                         "the body is over " + std::to_string(chosen->maxBodyBytes) + " bytes");

  // The responder may be called on any thread, or dropped (the server answers 500).
  struct Outcome {
    std::mutex mutex;
    std::condition_variable done;
    std::optional<http::Response> response;
  };
  auto outcome = std::make_shared<Outcome>();
  struct Guard {
    explicit Guard(std::shared_ptr<Outcome> o) : outcome(std::move(o)) {}
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    std::shared_ptr<Outcome> outcome;
    bool called = false;  // under outcome->mutex
    ~Guard() {
      if (called) return;
      std::lock_guard lock(outcome->mutex);
      outcome->response = http::problem(500, "Internal Server Error", "the provider dropped its responder");
      outcome->done.notify_all();
    }
  };
  auto guard = std::make_shared<Guard>(outcome);
  provider->serve(chosen->id, std::move(request), [guard](http::Response response) {
    std::lock_guard lock(guard->outcome->mutex);
    if (guard->called) return;
    guard->called = true;
    guard->outcome->response = std::move(response);
    guard->outcome->done.notify_all();
  });
  guard.reset();
  std::unique_lock lock(outcome->mutex);
  if (!outcome->done.wait_for(lock, options_.timeout, [&] { return outcome->response.has_value(); }))
    return Status(StatusCode::kDeadlineExceeded,
                  "the provider did not respond within " + std::to_string(options_.timeout.count()) + " ms");
  return std::move(*outcome->response);
}

Result<std::shared_ptr<TestWebSocket>> RouteClient::openWebSocket(std::string_view target,
                                                                  std::vector<http::Header> headers) {
  auto provider = HIVE_TRY(this->provider());
  http::Request request = makeRequest("GET", target, {}, std::move(headers));
  std::uint64_t serial;
  {
    std::lock_guard lock(mutex_);
    serial = ++serial_;
  }
  request.requestId = "test-" + std::to_string(serial);
  for (const auto& route : provider->webSocketRoutes()) {
    if (!matchRoutePath(route.path, request.path, &request.params)) continue;
    auto wire = std::make_shared<Wire>(options_.sendQueue);
    auto session = provider->openWebSocket(route.id, request,
                                           std::make_shared<Peer>("ws-" + std::to_string(serial), wire));
    if (!session.ok()) return session.status();
    if (*session == nullptr) return internalError("openWebSocket accepted with no session");
    return std::shared_ptr<TestWebSocket>(
        std::make_shared<Connection>(std::move(wire), std::move(provider), std::move(session).value()));
  }
  return Status(StatusCode::kNotFound, "no WebSocket route for " + request.path);
}

void MemoryRoutes::add(http::Route route, http::RouteTable::Handler handler) {
  std::lock_guard lock(mutex_);
  table_.add(std::move(route), std::move(handler));
}

std::vector<http::Request> MemoryRoutes::served() const {
  std::lock_guard lock(mutex_);
  return served_;
}

std::vector<http::Route> MemoryRoutes::routes() {
  std::lock_guard lock(mutex_);
  return table_.routes();
}

void MemoryRoutes::serve(std::string_view routeId, http::Request request, http::Responder respond) {
  {
    std::lock_guard lock(mutex_);
    served_.push_back(request);
  }
  // Outside the lock: a handler may call routes() or answer on this thread.
  table_.serve(routeId, std::move(request), std::move(respond));
}

}  // namespace hive::testing
