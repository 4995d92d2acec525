#include "server.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <limits>
#include <optional>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "dispatcher.hpp"
#include "hive/asio.hpp"
#include "request_head.hpp"
#include "shared.hpp"
#include "tls.hpp"
#include "upgrade.hpp"
#include "websocket.hpp"

namespace hive::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

// A connection's socket and timer run on its strand, with the executor type
// spelled out (no type-erased executor on the hot path).
using Strand = net::strand<net::io_context::executor_type>;
using Socket = net::basic_stream_socket<tcp, Strand>;
using Timer =
    net::basic_waitable_timer<std::chrono::steady_clock, net::wait_traits<std::chrono::steady_clock>, Strand>;
using Clock = std::chrono::steady_clock;

// The TCP socket under either kind of session: timeouts cancel it, close() closes it.
Socket& lowest(Socket& socket) { return socket; }
tcp::socket& lowest(TlsStream& stream) { return stream.next_layer().socket(); }

// An upgraded connection's stream for the WebSocket layer.
WebSocketTransport transport(Socket&& socket) {
  return WebSocketTransport(beast::tcp_stream(tcp::socket(std::move(socket))));
}
WebSocketTransport transport(TlsStream&& stream) { return WebSocketTransport(std::move(stream)); }

constexpr std::string_view kHubPath = "/api/v2/ws";
constexpr auto kDrainGrace = std::chrono::seconds(1);
constexpr std::size_t kLingerBytes = 256 * 1024;
constexpr auto kCancelGrace = std::chrono::seconds(5);

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool hasToken(std::string_view list, std::string_view token) {
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t end = list.find(',', start);
    if (end == std::string_view::npos) end = list.size();
    std::string_view item = list.substr(start, end - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (iequals(item, token)) return true;
    start = end + 1;
  }
  return false;
}

// What the listener decided about a new connection.
enum class Admission { kServe, kTooManyConnections, kTooManyFromAddress };

// Stream: Socket (plain HTTP) or TlsStream (HTTPS). The plain instantiation
// is the code it was before TLS existed; the TLS one adds the handshake and
// close_notify.
template <typename Stream>
class HttpSession final : public Connection, public std::enable_shared_from_this<HttpSession<Stream>> {
  static constexpr bool kSecure = std::is_same_v<Stream, TlsStream>;

 public:
  HttpSession(std::shared_ptr<Shared> shared, Stream socket, Strand strand, AddressSlot addressSlot)
      : token_(std::move(shared)),
        socket_(std::move(socket)),
        deadline_(std::move(strand)),
        addressSlot_(std::move(addressSlot)) {
    boost::system::error_code ignored;
    auto remote = lowest(socket_).remote_endpoint(ignored);
    remote_ =
        ignored ? std::string("unknown") : remote.address().to_string() + ":" + std::to_string(remote.port());
    token_->httpConnections.fetch_add(1);
    token_->openConnections.add(1);
  }
  ~HttpSession() override {
    token_->remove(registration_);
    token_->clearIdle(idleKey_);
    if (!upgraded_) {
      token_->httpConnections.fetch_sub(1);
      token_->openConnections.add(-1);
    }
  }

  void start(Admission admission) {
    registration_ = token_->add(this->weak_from_this());
    if constexpr (kSecure) {
      // Refusals (429, 503) are answers too: they need the handshake first.
      expireAfter(settings().headerTimeout);
      return socket_.async_handshake(
          net::ssl::stream_base::server,
          [self = this->shared_from_this(), admission](const boost::system::error_code& error) {
            if (error) return self->refuseHandshake(error);
            self->admitted(admission);
          });
    }
    admitted(admission);
  }

  // An old client, a wrong or missing client certificate, a port scanner:
  // counted and closed; the reason is in the debug log.
  void refuseHandshake(const boost::system::error_code& error) {
    token_->context.metrics()
        .counter("api_tls_handshake_failures_total", "TLS handshakes that failed (connection closed)")
        .increment();
    if (token_->context.log().enabled(LogLevel::kDebug))
      token_->context.log().debug("api: TLS handshake with " + remote_ + " failed: " + error.message());
    close();
  }

  void admitted(Admission admission) {
    switch (admission) {
      case Admission::kTooManyConnections:
        return reject(503, "Service Unavailable", "too many connections, none of them idle; retry later");
      case Admission::kTooManyFromAddress:
        return reject(429, "Too Many Requests",
                      "too many connections from your address (limit " +
                          std::to_string(settings().maxConnectionsPerAddress) + ")");
      case Admission::kServe: break;
    }
    readHead();
  }

  // Connection (called from any thread)
  void drain() override {
    net::post(deadline_.get_executor(), [self = this->shared_from_this()] {
      if (self->waitingIdle_ && self->buffer_.size() == 0) {
        self->drainRestart_ = true;
        boost::system::error_code ignored;
        lowest(self->socket_).cancel(ignored);
      }
    });
  }
  void shutdown() override {
    net::post(deadline_.get_executor(), [self = this->shared_from_this()] { self->close(); });
  }
  void evictIfIdle() override {
    net::post(deadline_.get_executor(), [self = this->shared_from_this()] {
      // A request that started meanwhile is served; only a connection still
      // waiting with nothing read goes.
      if (self->waitingIdle_ && self->buffer_.size() == 0) self->close();
    });
  }

 private:
  const Settings& settings() const { return token_->settings; }

  void readHead() {
    if (timedOut_) {  // the deadline passed while no read was pending
      if (buffer_.size() == 0) return close();
      return reject(408, "Request Timeout", "the request head did not arrive in time");
    }
    std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    std::size_t headLength = 0;
    std::string problem;
    switch (scanHead(data, headLength, problem)) {
      case HeadScan::kMalformed: return reject(400, "Bad Request", problem);
      case HeadScan::kComplete: return onHead(headLength);
      case HeadScan::kIncomplete: break;
    }
    if (buffer_.size() >= settings().headerBytes) {
      std::size_t lineEnd = data.find("\r\n");
      if (lineEnd == std::string_view::npos || lineEnd > settings().targetBytes)
        return reject(414, "URI Too Long", "the request line exceeds the limit");
      return reject(431, "Request Header Fields Too Large", "the request head exceeds the limit");
    }
    waitingIdle_ = buffer_.size() == 0;
    if (waitingIdle_ && idleKey_ == 0) idleKey_ = token_->markIdle(this->weak_from_this());
    if (waitingIdle_) {
      bool draining = token_->draining.load();
      if (token_->stopping.load()) return close();
      auto wait = draining ? std::chrono::milliseconds(kDrainGrace)
                           : (served_ == 0 ? settings().headerTimeout : settings().idleTimeout);
      expireAfter(wait);
    } else if (!headStarted_) {
      // The head's deadline runs from its first byte: a client trickling bytes
      // does not extend it.
      headStarted_ = true;
      expireAfter(settings().headerTimeout);
    }
    std::size_t room = settings().headerBytes - buffer_.size();
    socket_.async_read_some(
        buffer_.prepare(std::min<std::size_t>(room, 16 * 1024)),
        [self = this->shared_from_this()](const boost::system::error_code& error, std::size_t n) {
          self->buffer_.commit(n);
          self->onHeadBytes(error);
        });
  }

  void onHeadBytes(const boost::system::error_code& error) {
    bool wasIdle = waitingIdle_;
    waitingIdle_ = false;
    token_->clearIdle(std::exchange(idleKey_, 0));
    if (error == net::error::operation_aborted && timedOut_) {
      if (wasIdle) return close();
      return reject(408, "Request Timeout", "the request head did not arrive in time");
    }
    if (error == net::error::operation_aborted && drainRestart_) {
      drainRestart_ = false;
      return readHead();
    }
    if (error) return close();
    readHead();
  }

  void onHead(std::size_t headLength) {
    headStarted_ = false;
    parser_.emplace();
    auto parsed = parseHead(
        *parser_, std::string_view(static_cast<const char*>(buffer_.data().data()), headLength), settings());
    if (auto* refusal = std::get_if<HeadRefusal>(&parsed))
      return reject(refusal->status, refusal->title, refusal->detail);
    buffer_.consume(headLength);
    auto& [head, transferEncoding, contentLengths, contentLength, hasBody] = std::get<ParsedHead>(parsed);
    auto& message = parser_->get();
    head.remoteAddress = remote_;
    keepAlive_ = message.keep_alive();
    version_ = message.version();

    if (beast::websocket::is_upgrade(message)) return onUpgrade(std::move(head), hasBody);

    exchange_ = token_->dispatcher.prepare(std::move(head));
    if (exchange_.early) {
      if (hasBody || exchange_.early->status == 400) closeAfter_ = true;
      return respond(std::move(*exchange_.early));
    }
    if (transferEncoding && exchange_.bodyLimit == 0) closeAfter_ = true;
    if (contentLengths > 0) {
      std::uint64_t length = contentLength.size() > 18 ? UINT64_MAX : std::stoull(contentLength);
      if (length > exchange_.bodyLimit) {
        closeAfter_ = true;
        return respond(http::problem(413, "Content Too Large",
                                     "the body exceeds " + std::to_string(exchange_.bodyLimit) + " bytes"));
      }
    }
    parser_->body_limit(exchange_.bodyLimit);
    if (parser_->is_done()) return onRequest();
    if (transferEncoding) limitChunkMetadata(headLength);
    expireAfter(settings().bodyTimeout);
    bhttp::async_read(socket_, buffer_, *parser_,
                      [self = this->shared_from_this()](const boost::system::error_code& error, std::size_t) {
                        self->onBody(error);
                      });
  }

  // Beast keeps a chunk line (size and extensions) or the trailer section in
  // the read buffer until its end arrives, without any limit of its own: one
  // request with a 200 MiB chunk extension grew the process by as much. Here the
  // extensions of all chunks and the trailer fields share what the head left
  // of header_bytes, and the read buffer never holds more than header_bytes
  // (the body itself goes straight into the body, under the body limit).
  void limitChunkMetadata(std::size_t headLength) {
    metadataBudget_ = settings().headerBytes - std::min(headLength, settings().headerBytes);
    headFields_ = static_cast<std::size_t>(std::distance(parser_->get().begin(), parser_->get().end()));
    buffer_.max_size(settings().headerBytes);
    parser_->on_chunk_header(chunkHeader_);
    chunked_ = true;
  }

  void onChunkHeader(beast::string_view extensions, boost::system::error_code& error) {
    if (extensions.size() > metadataBudget_) {
      error = bhttp::error::header_limit;
      return;
    }
    metadataBudget_ -= extensions.size();
  }

  // The trailer's fields were added to the message after the head's; they take
  // the rest of the budget, and count against header_count with the head's.
  std::optional<http::Response> checkTrailer() {
    std::size_t index = 0, count = 0, bytes = 0;
    for (const auto& field : parser_->get()) {
      if (index++ < headFields_) continue;
      ++count;
      bytes += field.name_string().size() + field.value().size() + 4;  // ": " and CRLF
    }
    if (headFields_ + count > settings().headerCount)
      return http::problem(431, "Request Header Fields Too Large", "too many header and trailer fields");
    if (bytes > metadataBudget_) return chunkMetadataTooLarge();
    return std::nullopt;
  }

  http::Response chunkMetadataTooLarge() const {
    return http::problem(431, "Request Header Fields Too Large",
                         "the request head, chunk extensions and trailer fields exceed " +
                             std::to_string(settings().headerBytes) + " bytes");
  }

  void onBody(const boost::system::error_code& error) {
    buffer_.max_size(std::numeric_limits<std::size_t>::max());
    if (error) {
      closeAfter_ = true;
      if (error == net::error::operation_aborted && timedOut_)
        return respond(http::problem(408, "Request Timeout", "the body did not arrive in time"));
      if (error == bhttp::error::header_limit || error == bhttp::error::buffer_overflow)
        return respond(chunkMetadataTooLarge());
      if (error == bhttp::error::body_limit)
        return respond(http::problem(413, "Content Too Large",
                                     "the body exceeds " + std::to_string(exchange_.bodyLimit) + " bytes"));
      if (error == bhttp::error::end_of_stream || error == net::error::eof ||
          error == net::error::connection_reset || error == bhttp::error::partial_message)
        return close();
      return respond(http::problem(400, "Bad Request", "malformed body: " + error.message()));
    }
    if (chunked_) {
      chunked_ = false;
      if (auto refused = checkTrailer()) {
        closeAfter_ = true;
        return respond(std::move(*refused));
      }
    }
    onRequest();
  }

  void onRequest() {
    expireNever();
    dispatching_ = true;
    auto executor = deadline_.get_executor();
    token_->dispatcher.dispatch(exchange_, std::move(parser_->get().body()),
                                [self = this->shared_from_this(), executor](http::Response response) {
                                  // Inline when the provider answers on our strand (most do).
                                  net::dispatch(executor, [self, response = std::move(response)]() mutable {
                                    self->dispatching_ = false;
                                    self->respond(std::move(response));
                                  });
                                });
  }

  void onUpgrade(Head head, bool hasBody) {
    auto exchange = token_->dispatcher.prepare(std::move(head));
    auto& request = exchange.request;
    if (hasBody || request.method != "GET")
      return reject(400, "Bad Request", "a WebSocket upgrade is a GET without a body");
    if (token_->draining.load()) {
      closeAfter_ = true;
      exchange_ = std::move(exchange);
      return respond(http::problem(503, "Service Unavailable", "the server is restarting; reconnect"));
    }
    Upgrade upgrade;
    std::optional<http::Response> refusal;
    const std::string* origin = request.header("origin");
    const std::string* host = request.header("host");
    if (origin != nullptr && !token_->dispatcher.originAllowed(*origin) &&
        !(host != nullptr && sameOrigin(*origin, *host)))
      refusal = http::problem(403, "Forbidden", "origin not allowed");
    std::string permission;
    std::string wantedProtocol;
    if (!refusal) {
      if (request.path == kHubPath) {
        wantedProtocol = std::string(kHubSubprotocol);
        permission = "events:read";  // any bus topic can be subscribed
      } else {
        std::map<std::string, std::string, std::less<>> params;
        auto segments = splitPath(request.path);
        upgrade.table = exchange.table;
        upgrade.entry =
            segments && upgrade.table ? upgrade.table->matchWebSocket(*segments, params) : nullptr;
        if (upgrade.entry == nullptr) {
          refusal = http::problem(404, "Not Found", "no WebSocket route for " + request.path);
        } else {
          request.params = std::move(params);
          wantedProtocol = upgrade.entry->route.subprotocol;
          permission = upgrade.entry->route.permission;
        }
      }
    }
    if (!refusal && !wantedProtocol.empty()) {
      const std::string* offered = request.header("sec-websocket-protocol");
      if (offered == nullptr || !hasToken(*offered, wantedProtocol))
        refusal = http::problem(400, "Bad Request", "subprotocol " + wantedProtocol + " required");
      upgrade.subprotocol = wantedProtocol;
    }
    if (!refusal && request.header("authorization") == nullptr)
      if (const std::string* offered = request.header("sec-websocket-protocol"))
        if (auto token = bearerSubprotocol(*offered))
          request.headers.push_back({"authorization", "Bearer " + *token});
    if (!refusal) refusal = token_->dispatcher.authorize(request, permission);
    if (refusal) {
      closeAfter_ = true;
      exchange.routeTemplate = "(websocket)";
      exchange_ = std::move(exchange);
      return respond(std::move(*refusal));
    }
    exchange.routeTemplate = upgrade.entry ? upgrade.entry->route.path : std::string(kHubPath);
    http::Response switching;
    switching.status = 101;
    token_->dispatcher.finish(exchange, switching, 0);
    upgrade.request = std::move(exchange.request);
    upgrade.addressSlot = std::move(addressSlot_);
    upgraded_ = true;
    token_->httpConnections.fetch_sub(1);
    token_->openConnections.add(-1);
    expireNever();
    closed_ = true;  // the socket moves on; our timer must not touch it
    deadline_.cancel();
    startWebSocket(token_.shared(), transport(std::move(socket_)), parser_->release(), std::move(upgrade));
  }

  // A refusal before an exchange exists: a problem, then close.
  void reject(int status, const char* title, const std::string& detail) {
    closeAfter_ = true;
    token_->dispatcher.countRejection(status, remote_);
    exchange_ = Exchange{};
    exchange_.request.requestId = newRequestId();
    exchange_.routeTemplate = "(rejected)";
    exchange_.started = std::chrono::steady_clock::now();
    writeResponse(http::problem(status, title, detail), /*logged=*/true);
  }

  void respond(http::Response response) { writeResponse(std::move(response), false); }

  void writeResponse(http::Response response, bool logged) {
    if (logged) {
      response.headers.push_back({"x-request-id", exchange_.request.requestId});
    } else {
      token_->dispatcher.finish(exchange_, response, response.body.size());
    }
    bool keep = keepAlive_ && !closeAfter_ && !token_->draining.load() && !token_->stopping.load();
    serialize(response, keep);
    expireAfter(settings().idleTimeout);
    net::async_write(
        socket_, net::buffer(out_),
        [self = this->shared_from_this(), keep](const boost::system::error_code& error, std::size_t) {
          if (error) return self->close();
          if (!keep) return self->lingerClose();
          ++self->served_;
          self->exchange_ = Exchange{};
          self->parser_.reset();
          self->readHead();
        });
  }

  // The response as it goes on the wire, into out_ (its capacity is reused).
  // Header values were checked for CR/LF before they got here.
  void serialize(const http::Response& response, bool keep) {
    out_.clear();
    out_ += version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    out_ += std::to_string(response.status);
    out_ += ' ';
    out_ += bhttp::obsolete_reason(static_cast<bhttp::status>(response.status));
    out_ += "\r\n";
    bool bodyAllowed = response.status >= 200 && response.status != 204 && response.status != 304;
    if (!response.contentType.empty() && bodyAllowed) {
      out_ += "Content-Type: ";
      out_ += response.contentType;
      out_ += "\r\n";
    }
    for (const auto& header : response.headers) {
      out_ += header.name;
      out_ += ": ";
      out_ += header.value;
      out_ += "\r\n";
    }
    if (version_ == 10 && keep) out_ += "Connection: keep-alive\r\n";
    if (version_ != 10 && !keep) out_ += "Connection: close\r\n";
    if (bodyAllowed) {
      out_ += "Content-Length: ";
      out_ += std::to_string(response.body.size());
      out_ += "\r\n\r\n";
      if (exchange_.request.method != "HEAD") out_ += response.body;
    } else {
      out_ += "\r\n";
    }
  }

  // Half-closes and discards what the client still sends for a moment, so
  // that our answer is not destroyed by a reset.
  void lingerClose() {
    if constexpr (kSecure) {
      // TLS says it with close_notify; the client's own ends the wait, or the
      // deadline does.
      expireAfter(std::chrono::seconds(1));
      socket_.async_shutdown(
          [self = this->shared_from_this()](const boost::system::error_code&) { self->close(); });
    } else {
      boost::system::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_send, ignored);
      expireAfter(std::chrono::seconds(1));
      buffer_.clear();
      socket_.async_read_some(
          buffer_.prepare(16 * 1024),
          [self = this->shared_from_this()](const boost::system::error_code& error, std::size_t n) {
            self->lingered_ += n;
            if (error || self->lingered_ > kLingerBytes) return self->close();
            self->lingerClose();
          });
    }
  }

  // One deadline per connection, moved by the phase we are in (idle, head,
  // body, write, linger). Moving it later costs nothing: the timer wakes at the
  // old time, sees the new one and sleeps again. When it passes, the pending
  // operation is cancelled and its handler answers (408) or closes.
  void expireAfter(Clock::duration timeout) { expireAt(Clock::now() + timeout); }
  void expireNever() { expiry_ = Clock::time_point::max(); }
  void expireAt(Clock::time_point when) {
    expiry_ = when;
    timedOut_ = false;
    if (!timerArmed_ || when < timerAt_) arm(when);
  }
  void arm(Clock::time_point when) {
    timerArmed_ = true;
    timerAt_ = when;
    deadline_.expires_at(when);
    deadline_.async_wait([self = this->shared_from_this()](const boost::system::error_code& error) {
      if (error) return;  // re-armed earlier, or closing
      self->timerArmed_ = false;
      if (self->closed_ || self->expiry_ == Clock::time_point::max()) return;
      if (Clock::now() < self->expiry_) return self->arm(self->expiry_);
      // Cancelled once without an answer (nothing was pending): give up.
      if (self->timedOut_) return self->close();
      self->timedOut_ = true;
      boost::system::error_code ignored;
      lowest(self->socket_).cancel(ignored);
      self->arm(Clock::now() + kCancelGrace);
    });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    deadline_.cancel();
    boost::system::error_code ignored;
    lowest(socket_).shutdown(tcp::socket::shutdown_both, ignored);
    lowest(socket_).close(ignored);
  }

  LiveToken token_;
  Stream socket_;
  Timer deadline_;
  beast::flat_buffer buffer_;
  std::string out_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  // The parser keeps a reference to its chunk callback: it lives here.
  std::function<void(std::uint64_t, beast::string_view, boost::system::error_code&)> chunkHeader_ =
      [this](std::uint64_t, beast::string_view extensions, boost::system::error_code& error) {
        onChunkHeader(extensions, error);
      };
  std::size_t metadataBudget_ = 0;  // bytes of header_bytes left for chunk extensions and the trailer
  std::size_t headFields_ = 0;      // fields of the head; those after them are the trailer's
  bool chunked_ = false;
  Exchange exchange_;
  std::string remote_;
  AddressSlot addressSlot_;  // moves to the WebSocket connection on upgrade
  std::uint64_t registration_ = 0;
  std::uint64_t idleKey_ = 0;  // in Shared::idle while waiting for a request
  std::size_t served_ = 0;
  std::size_t lingered_ = 0;
  unsigned version_ = 11;
  bool keepAlive_ = true;
  bool closeAfter_ = false;
  bool headStarted_ = false;
  bool waitingIdle_ = false;
  bool drainRestart_ = false;
  bool timedOut_ = false;
  bool dispatching_ = false;
  bool upgraded_ = false;
  bool closed_ = false;
  bool timerArmed_ = false;
  Clock::time_point timerAt_;
  Clock::time_point expiry_ = Clock::time_point::max();
};

}  // namespace

struct Server::Listener : std::enable_shared_from_this<Server::Listener> {
  Listener(std::shared_ptr<Shared> shared, net::io_context& io, std::shared_ptr<TlsContexts> tls)
      : token(std::move(shared)),
        io(io),
        acceptor(net::make_strand(io)),
        retry(acceptor.get_executor()),
        tls(std::move(tls)) {}

  void accept() {
    pending = true;
    acceptor.async_accept(net::make_strand(io.get_executor()),
                          [self = shared_from_this()](const boost::system::error_code& error, Socket socket) {
                            self->onAccept(error, std::move(socket));
                          });
  }

  void onAccept(const boost::system::error_code& error, Socket socket) {
    pending = false;
    if (error) {
      if (error == net::error::operation_aborted || closed || token->stopping.load()) return;
      // Out of descriptors, or a connection reset before accept: try again shortly.
      retry.expires_after(std::chrono::milliseconds(50));
      pending = true;
      retry.async_wait([self = shared_from_this()](const boost::system::error_code& waited) {
        self->pending = false;
        if (!waited && !self->closed) self->accept();
      });
      return;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto [admission, slot] = admit(socket);
    // Accepted just before a drain: still served (with `Connection: close`), never dropped.
    Strand strand = socket.get_executor();
    if (tls) {
      // A connection keeps the context it started with (OpenSSL counts its
      // references) when a reload replaces the current one.
      TlsStream stream(beast::tcp_stream(tcp::socket(std::move(socket))), *tls->current());
      std::make_shared<HttpSession<TlsStream>>(token.shared(), std::move(stream), strand, std::move(slot))
          ->start(admission);
    } else {
      std::make_shared<HttpSession<Socket>>(token.shared(), std::move(socket), strand, std::move(slot))
          ->start(admission);
    }
    if (!closed && !token->draining.load() && !token->stopping.load()) accept();
  }

  // The per-address limit first (a refused client takes no idle connection's
  // place), then the connection limit: at it, the oldest idle connection is
  // closed for the new one, which is refused only when none is idle. The count
  // may pass the limit by the connections still closing.
  std::pair<Admission, AddressSlot> admit(const Socket& socket) {
    boost::system::error_code error;
    auto endpoint = socket.remote_endpoint(error);
    std::string address = "unknown";
    if (!error) {
      auto ip = endpoint.address();
      if (ip.is_v6() && ip.to_v6().is_v4_mapped())
        ip = net::ip::make_address_v4(net::ip::v4_mapped, ip.to_v6());
      address = ip.to_string();
    }
    if (!token->claimAddress(address, token->settings.maxConnectionsPerAddress))
      return {Admission::kTooManyFromAddress, AddressSlot()};
    AddressSlot slot(token.shared(), address);
    if (token->httpConnections.load() < token->settings.maxConnections)
      return {Admission::kServe, std::move(slot)};
    if (auto idle = token->takeOldestIdle()) {
      idle->evictIfIdle();
      return {Admission::kServe, std::move(slot)};
    }
    return {Admission::kTooManyConnections, std::move(slot)};
  }

  void close() {
    net::post(acceptor.get_executor(), [self = shared_from_this()] {
      self->closed = true;
      // Released, then closed: a copy of the socket handed to the next
      // generation keeps it open, and epoll forgets a descriptor at close only
      // when no copy is left. Release takes it out of the reactor first, so the
      // next copy, which may get this descriptor's number, can be registered.
      boost::system::error_code ignored;
      if (self->acceptor.is_open()) {
        int fd = self->acceptor.release(ignored);
        if (fd >= 0)
          ::close(fd);
        else
          self->acceptor.close(ignored);
      }
      self->retry.cancel();
    });
  }

  LiveToken token;
  net::io_context& io;
  tcp::acceptor acceptor;
  net::steady_timer retry;
  std::shared_ptr<TlsContexts> tls;  // null: plain HTTP
  bool closed = false;
  std::atomic<bool> pending{false};
};

Server::Server(PluginContext& context, const Settings& settings, Dispatcher& dispatcher, Hub& hub)
    : shared_(std::make_shared<Shared>(context, settings, dispatcher, hub)) {}

Server::~Server() { stop(); }

Result<std::shared_ptr<TlsContexts>> Server::loadTls() const {
  if (!shared_->settings.tls.enabled()) return std::shared_ptr<TlsContexts>();
  auto contexts = TlsContexts::create(shared_->settings.tls, shared_->context.log());
  if (!contexts.ok()) return contexts.status().withContext("api tls");
  return std::shared_ptr<TlsContexts>(std::move(contexts).value());
}

Status Server::listen() {
  auto& io = ioContext(shared_->context);
  auto tls = HIVE_TRY(loadTls());
  listener_ = std::make_shared<Listener>(shared_, io, std::move(tls));
  boost::system::error_code error;
  auto address = net::ip::make_address(shared_->settings.address, error);
  if (error) return invalidArgument("listen address '" + shared_->settings.address + "': " + error.message());
  tcp::endpoint endpoint(address, shared_->settings.port);
  auto& acceptor = listener_->acceptor;
  acceptor.open(endpoint.protocol(), error);
  if (!error) acceptor.set_option(net::socket_base::reuse_address(true), error);
  if (!error) acceptor.bind(endpoint, error);
  if (!error) acceptor.listen(net::socket_base::max_listen_connections, error);
  if (error) {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    listener_.reset();
    return unavailable("cannot listen on " + shared_->settings.address + ":" +
                       std::to_string(shared_->settings.port) + ": " + error.message());
  }
  net::post(acceptor.get_executor(), [listener = listener_] { listener->accept(); });
  return okStatus();
}

Status Server::adopt(int fd) {
  auto& io = ioContext(shared_->context);
  auto tls = loadTls();
  if (!tls.ok()) {
    ::close(fd);
    return tls.status();
  }
  listener_ = std::make_shared<Listener>(shared_, io, std::move(tls).value());
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    ::close(fd);
    listener_.reset();
    return failedPrecondition("handed-over descriptor is not a socket");
  }
  boost::system::error_code error;
  listener_->acceptor.assign(storage.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, error);
  if (error) {
    ::close(fd);
    listener_.reset();
    return failedPrecondition("cannot adopt the listening socket: " + error.message());
  }
  net::post(listener_->acceptor.get_executor(), [listener = listener_] { listener->accept(); });
  return okStatus();
}

Result<int> Server::duplicateListener() const {
  if (!listener_) return failedPrecondition("not listening");
  int fd = ::fcntl(const_cast<tcp::acceptor&>(listener_->acceptor).native_handle(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return unavailable("dup of the listening socket failed");
  return fd;
}

std::uint16_t Server::port() const {
  if (!listener_) return 0;
  boost::system::error_code error;
  auto endpoint = listener_->acceptor.local_endpoint(error);
  return error ? 0 : endpoint.port();
}

void Server::beginDrain() {
  shared_->draining = true;
  if (listener_) listener_->close();
  shared_->forEach([](Connection& connection) { connection.drain(); });
}

std::size_t Server::providerSwapping(const std::string& provider) {
  std::size_t closing = 0;
  shared_->forEach([&](Connection& connection) { closing += connection.providerSwapping(provider) ? 1 : 0; });
  return closing;
}

bool Server::idle() const {
  // The listener counts while it exists (it is released in stop()); its
  // handler may still be pending after close.
  if (listener_ && listener_->pending.load()) return false;
  return shared_->live.load() <= (listener_ ? 1 : 0);
}

void Server::stop() {
  if (shared_->stopping.exchange(true)) return;
  if (listener_) listener_->close();
  listener_.reset();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto warned = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (shared_->live.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    shared_->forEach([](Connection& connection) { connection.shutdown(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (std::chrono::steady_clock::now() > warned) {
      shared_->context.log().warn("api: waiting for " + std::to_string(shared_->live.load()) +
                                  " connection(s) to finish (a provider has not answered)");
      warned = deadline;
    }
  }
  if (shared_->live.load() > 0)
    shared_->context.log().error("api: " + std::to_string(shared_->live.load()) +
                                 " connection(s) still alive after 10 s at stop");
}

}  // namespace hive::api
