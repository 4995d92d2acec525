#include "websocket.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <optional>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include "dispatcher.hpp"
#include "hive/services/tenancy.hpp"
#include "plugin_common/tenant_scope.hpp"
#include "upgrade.hpp"

namespace hive::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;

namespace {

// History is replayed a page at a time, each page written out before the next
// is fetched: a client far behind catches up at the speed it reads, within the
// bounded send queue, instead of being closed as a slow consumer.
constexpr std::size_t kMaxReplayPage = 500;

// How long a connection we close may take to end (its closing handshake, or
// the write that must finish before our close frame). Past it the connection
// is torn down, whatever state Beast's operations are in: a provider's session
// and its lease on the provider's generation must end (a swap waits for them).
constexpr std::chrono::seconds kCloseDeadline{3};

bool validPattern(std::string_view pattern) {
  if (pattern.empty() || pattern.size() > 256) return false;
  for (char c : pattern)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' && c != ':' &&
        c != '*')
      return false;
  return true;
}

// An event id as the bus gives them: "<ms>-<seq>" or "<ms>", decimal, each
// part within 64 bits. Checked here so that a typo is the client's error
// (bad_since), not a failed replay.
bool validEventId(std::string_view id) {
  std::size_t dash = id.find('-');
  auto number = [](std::string_view digits) {
    if (digits.empty() || digits.size() > 20) return false;
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
    return digits.size() < 20 || digits <= "18446744073709551615";
  };
  if (dash == std::string_view::npos) return number(id);
  return number(id.substr(0, dash)) && number(id.substr(dash + 1));
}

std::string reply(std::string_view type, std::string_view id, std::string_view topic = {},
                  std::string_view payload = {}) {
  std::string out = "{\"type\":" + http::jsonQuote(type);
  if (!id.empty()) out += ",\"id\":" + http::jsonQuote(id);
  out += ",\"ts\":" + std::to_string(nowMs());
  if (!topic.empty()) out += ",\"topic\":" + http::jsonQuote(topic);
  if (!payload.empty()) out += ",\"payload\":" + std::string(payload);
  out += "}";
  return out;
}

std::string errorPayload(std::string_view code, std::string_view message) {
  return "{\"code\":" + http::jsonQuote(code) + ",\"message\":" + http::jsonQuote(message) + "}";
}

class WebSocketConnection;

// One topic pattern a hub client follows, and where it is in the stream.
struct TopicFollow {
  std::string pattern;
  std::string lastId;
  bool replaying = false;  // catching up from the history after `since`
  bool fetching = false;   // a page is being read from the bus
  bool pageFull = false;   // the last page was full: there may be more
  bool behind = false;     // live events were dropped while replaying: read one more page
  std::deque<std::shared_ptr<const HubEvent>> pending;  // replayed, waiting for room in the send queue
  std::vector<std::shared_ptr<const HubEvent>> held;    // live events while the replay runs
};

// What a provider holds to talk to its client. Counts as live work of ours, so
// the api plugin is not unloaded while a provider still holds one.
class Peer final : public http::WebSocketPeer {
 public:
  Peer(std::shared_ptr<Shared> shared, std::weak_ptr<WebSocketConnection> connection, std::string id)
      : token_(std::move(shared)), connection_(std::move(connection)), id_(std::move(id)) {}
  Status send(std::string text) override;
  void close(std::uint16_t code, std::string reason) override;
  const std::string& id() const override { return id_; }

 private:
  LiveToken token_;
  std::weak_ptr<WebSocketConnection> connection_;
  std::string id_;
};

class WebSocketConnection final : public Connection,
                                  public HubClient,
                                  public std::enable_shared_from_this<WebSocketConnection> {
 public:
  WebSocketConnection(std::shared_ptr<Shared> shared, WebSocketTransport stream,
                      bhttp::request<bhttp::string_body> head, Upgrade upgrade)
      : token_(std::move(shared)),
        ws_(std::move(stream)),
        head_(std::move(head)),
        upgrade_(std::move(upgrade)) {
    token_->webSocketConnections.fetch_add(1);
    token_->openConnections.add(1);
    // Browser clients of the hub and a provider's clients (remote agents) have
    // their own rates: an agent's reports must not be throttled to a browser's.
    rate_ = route() ? limits().routeMessagesPerSecond : limits().messagesPerSecond;
    tokens_ = rate_;
    refilled_ = std::chrono::steady_clock::now();
  }
  ~WebSocketConnection() override {
    token_->remove(registration_);
    if (hubRegistration_ != 0) token_->hub.remove(hubRegistration_);
    token_->webSocketConnections.fetch_sub(1);
    token_->openConnections.add(-1);
  }

  void start() {
    registration_ = token_->add(weak_from_this());
    if (token_->webSocketConnections.load() > limits().maxConnections)
      return refuse(http::problem(503, "Service Unavailable", "too many WebSocket connections"));
    if (upgrade_.entry != nullptr) {
      const RouteOwner& owner = *upgrade_.entry->owner;
      if (!token_->dispatcher.swaps().admit(owner.name, [&] { lease_ = owner.lease(); })) {
        auto refused = http::problem(503, "Service Unavailable",
                                     "plugin '" + owner.name + "' is being swapped; reconnect");
        refused.headers.push_back({"retry-after", "1"});
        return refuse(std::move(refused));
      }
      http::RouteProvider* provider = lease_.get();
      if (provider == nullptr)
        return refuse(
            http::problem(503, "Service Unavailable", "the provider of this route is not available"));
      peer_ = std::make_shared<Peer>(token_.shared(), weak_from_this(), upgrade_.request.requestId);
      Result<std::shared_ptr<http::WebSocketSession>> opened = Status(StatusCode::kInternal, "exception");
      try {
        opened = provider->openWebSocket(upgrade_.entry->route.id, upgrade_.request, peer_);
      } catch (...) {
        token_->context.log().error("WebSocket route " + upgrade_.entry->route.path +
                                    ": exception escaped openWebSocket()");
      }
      if (!opened.ok() || *opened == nullptr) {
        int status = 503;
        switch (opened.status().code()) {
          case StatusCode::kPermissionDenied: status = 403; break;
          case StatusCode::kInvalidArgument: status = 400; break;
          case StatusCode::kResourceExhausted: status = 429; break;
          default: break;
        }
        peer_.reset();
        lease_ = {};
        const char* title = status == 403   ? "Forbidden"
                            : status == 400 ? "Bad Request"
                            : status == 429 ? "Too Many Requests"
                                            : "Service Unavailable";
        return refuse(http::problem(status, title, status == 503 ? "" : opened.status().message()));
      }
      session_ = std::move(*opened);
    }
    if (!route()) {
      // The hub's clients see only their tenant's events (hive.tenancy/1),
      // and a key bound to a project its project's (hive.projects/1).
      viewer_ = plugin_common::viewerOf(token_->context.services(), upgrade_.request.principal);
    }
    websocket::stream_base::timeout timeouts;
    timeouts.handshake_timeout = std::chrono::seconds(10);
    timeouts.idle_timeout = limits().idleTimeout;
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    ws_.read_message_max(route() ? limits().routeMessageBytes : limits().messageBytes);
    ws_.set_option(
        websocket::stream_base::decorator([protocol = upgrade_.subprotocol, id = upgrade_.request.requestId](
                                              websocket::response_type& response) {
          if (!protocol.empty()) response.set(bhttp::field::sec_websocket_protocol, protocol);
          response.set("x-request-id", id);
        }));
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::ping && !allow()) closeWith(1008, "rate limit exceeded");
    });
    ws_.async_accept(head_, [self = shared_from_this()](const boost::system::error_code& error) {
      self->onAccept(error);
    });
  }

  // Connection
  void drain() override {
    net::post(ws_.get_executor(),
              [self = shared_from_this()] { self->closeWith(1001, "server restarting"); });
  }
  void shutdown() override {
    net::post(ws_.get_executor(), [self = shared_from_this()] { self->hardClose(); });
  }
  bool providerSwapping(const std::string& provider) override {
    if (!route() || upgrade_.entry->owner->name != provider) return false;
    // 1012 "service restart": the client reconnects, to the next generation;
    // closing returns our lease, which the swap waits for.
    net::post(ws_.get_executor(), [self = shared_from_this(), provider] {
      self->closeWith(1012, "plugin '" + provider + "' is being swapped; reconnect");
    });
    return true;
  }

  // HubClient
  bool wants(std::string_view topic) const override {
    std::shared_ptr<const std::vector<std::string>> patterns;
    {
      std::lock_guard lock(patternsMutex_);
      patterns = patterns_;
    }
    if (!patterns) return false;
    return std::any_of(patterns->begin(), patterns->end(),
                       [&](const std::string& pattern) { return bus::topicMatches(pattern, topic); });
  }
  void deliver(std::shared_ptr<const HubEvent> event) override {
    if (!sees(*event)) return;
    net::post(ws_.get_executor(),
              [self = shared_from_this(), event = std::move(event)] { self->onEvent(event); });
  }

  // From Peer (any thread). A full queue refuses the message and leaves the
  // connection open: the provider knows which of its messages may wait (a
  // remote agent gets no new task until it reads) and which may not.
  Status sendFromProvider(std::string text) {
    if (closed_.load()) return unavailable("connection closed");
    if (queued_.fetch_add(1) >= sendQueueLimit()) {
      queued_.fetch_sub(1);
      return resourceExhausted("send queue full (" + std::to_string(sendQueueLimit()) +
                               " messages, websocket.route_send_queue): the client is not reading");
    }
    auto message = std::make_shared<const std::string>(std::move(text));
    net::post(ws_.get_executor(), [self = shared_from_this(), message] { self->write(message, true); });
    return okStatus();
  }
  void closeFromProvider(std::uint16_t code, std::string reason) {
    net::post(ws_.get_executor(), [self = shared_from_this(), code, reason = std::move(reason)] {
      self->closeWith(code, reason);
    });
  }

 private:
  const WebSocketLimits& limits() const { return token_->settings.webSocket; }
  // A provider's route (remote agents), not the hub (browser clients).
  bool route() const { return upgrade_.entry != nullptr; }
  std::size_t sendQueueLimit() const { return route() ? limits().routeSendQueue : limits().sendQueue; }

  void refuse(http::Response response) {
    closed_ = true;
    token_->dispatcher.countRejection(response.status, upgrade_.request.remoteAddress);
    auto message = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(response.status), 11);
    message->set(bhttp::field::content_type, response.contentType);
    message->set("x-request-id", upgrade_.request.requestId);
    for (const auto& header : response.headers) message->set(header.name, header.value);
    message->body() = std::move(response.body);
    message->keep_alive(false);
    message->prepare_payload();
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(5));
    bhttp::async_write(ws_.next_layer(), *message,
                       [self = shared_from_this(), message](const boost::system::error_code&, std::size_t) {
                         self->hardClose();
                       });
  }

  // Token bucket: rate_ per second, burst of the same size.
  bool allow() {
    auto now = std::chrono::steady_clock::now();
    double rate = rate_;
    tokens_ = std::min(rate, tokens_ + std::chrono::duration<double>(now - refilled_).count() * rate);
    refilled_ = now;
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

  void onAccept(const boost::system::error_code& error) {
    if (error) return finish(1006);
    // Nothing may be written before the handshake's own answer is out.
    accepted_ = true;
    if (deferredClose_) {
      auto [code, reason] = *deferredClose_;
      deferredClose_.reset();
      closeWith(code, reason);
    } else if (!queue_.empty() && !writing_) {
      writeNext();
    }
    if (upgrade_.entry == nullptr) hubRegistration_ = token_->hub.add(weak_from_this());
    if (token_->draining.load() || token_->stopping.load()) closeWith(1001, "server restarting");
    read();
  }

  void read() {
    reading_ = true;
    ws_.async_read(buffer_, net::bind_cancellation_slot(
                                readCancel_.slot(), [self = shared_from_this()](
                                                        const boost::system::error_code& error, std::size_t) {
                                  self->reading_ = false;
                                  self->onRead(error);
                                }));
  }

  void onRead(const boost::system::error_code& error) {
    if (error) {
      std::uint16_t code = ws_.reason().code;
      if (error == websocket::error::message_too_big) code = 1009;
      if (error == websocket::error::bad_frame_payload) code = 1007;
      if (code == 0) code = 1006;
      return finish(code);
    }
    std::string text = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    if (closing_) return read();
    if (!allow()) {
      closeWith(1008, "rate limit exceeded");
      return read();
    }
    if (!ws_.got_text()) {
      closeWith(1003, "text messages only");
      return read();
    }
    if (session_) {
      try {
        session_->onMessage(text);
      } catch (...) {
        token_->context.log().error("WebSocket route " + upgrade_.entry->route.path +
                                    ": exception escaped onMessage()");
        closeWith(1011, "internal error");
      }
    } else {
      onHubMessage(text);
    }
    read();
  }

  void onHubMessage(const std::string& text) {
    boost::json::parse_options options;
    options.max_depth = 16;
    boost::system::error_code error;
    boost::json::value value = boost::json::parse(text, error, {}, options);
    const boost::json::object* object = error ? nullptr : value.if_object();
    const boost::json::string* type =
        object ? (object->contains("type") ? object->at("type").if_string() : nullptr) : nullptr;
    std::string id;
    if (object != nullptr && object->contains("id")) {
      if (const auto* s = object->at("id").if_string()) id = std::string(s->data(), s->size()).substr(0, 128);
    }
    if (type == nullptr)
      return send(
          reply("error", id, {}, errorPayload("bad_request", "expected a JSON object with a string 'type'")));
    std::string topic;
    if (object->contains("topic"))
      if (const auto* s = object->at("topic").if_string()) topic.assign(s->data(), s->size());
    if (*type == "ping") return send(reply("pong", id));
    if (*type == "unsubscribe") {
      std::erase_if(subscriptions_, [&](const TopicFollow& s) { return s.pattern == topic; });
      publishPatterns();
      return send(reply("unsubscribed", id, topic));
    }
    if (*type != "subscribe")
      return send(reply("error", id, {}, errorPayload("unknown_type", "unknown message type")));
    if (!validPattern(topic))
      return send(reply("error", id, topic,
                        errorPayload("bad_topic", "topic pattern must match [A-Za-z0-9._:*-]{1,256}")));
    std::string since;
    if (object->contains("payload"))
      if (const auto* payload = object->at("payload").if_object(); payload && payload->contains("since")) {
        const auto* s = payload->at("since").if_string();
        if (s == nullptr || !validEventId(std::string_view(s->data(), s->size())))
          return send(reply("error", id, topic,
                            errorPayload("bad_since",
                                         "payload.since must be an event id \"<ms>-<seq>\" as "
                                         "received in an event's id (digits, at most 20 each)")));
        since.assign(s->data(), s->size());
      }
    for (const auto& existing : subscriptions_)
      if (existing.pattern == topic) return send(reply("subscribed", id, topic));
    if (subscriptions_.size() >= limits().subscriptions)
      return send(
          reply("error", id, topic, errorPayload("too_many_subscriptions", "subscription limit reached")));
    // The hub passes us the topic's live events from here on; the history is
    // read after that, so that no event falls between the two.
    TopicFollow& subscription = subscriptions_.emplace_back();
    subscription.pattern = topic;
    subscription.lastId = since;
    publishPatterns();
    if (!since.empty()) {
      subscription.replaying = true;
      if (!fetchPage(subscription)) {
        subscription.replaying = false;
        send(reply("error", id, topic, errorPayload("replay_unavailable", "no event bus to resume from")));
      }
    }
    send(reply("subscribed", id, topic));
  }

  // The patterns the hub filters with, before it posts an event to us.
  void publishPatterns() {
    auto patterns = std::make_shared<std::vector<std::string>>();
    for (const auto& subscription : subscriptions_) patterns->push_back(subscription.pattern);
    std::lock_guard lock(patternsMutex_);
    patterns_ = std::move(patterns);
  }

  std::size_t pageSize() const { return std::clamp<std::size_t>(limits().sendQueue / 2, 1, kMaxReplayPage); }

  // Asks the hub for the events after the subscription's last id; the page
  // arrives in onPage on our strand.
  bool fetchPage(TopicFollow& subscription) {
    subscription.fetching = true;
    subscription.behind = false;
    auto executor = ws_.get_executor();
    bool started =
        token_->hub.replay(subscription.pattern, subscription.lastId, pageSize(),
                           [self = shared_from_this(), topic = subscription.pattern,
                            executor](Result<std::vector<bus::Event>> events) {
                             net::post(executor, [self, topic, events = std::move(events)]() mutable {
                               self->onPage(topic, std::move(events));
                             });
                           });
    if (!started) subscription.fetching = false;
    return started;
  }

  TopicFollow* find(const std::string& pattern) {
    auto found = std::find_if(subscriptions_.begin(), subscriptions_.end(),
                              [&](const TopicFollow& s) { return s.pattern == pattern; });
    return found == subscriptions_.end() ? nullptr : &*found;
  }

  void onPage(const std::string& pattern, Result<std::vector<bus::Event>> events) {
    TopicFollow* subscription = find(pattern);
    if (subscription == nullptr || closing_) return;
    subscription->fetching = false;
    if (!events.ok()) {
      bool gone = events.status().code() == StatusCode::kOutOfRange;
      send(reply("error", {}, pattern,
                 errorPayload(gone ? "resync_required" : "replay_failed",
                              gone ? "the id is older than the history kept; resynchronise"
                                   : "the event history is not available")));
      // No more pages: pump() goes live (the client was told that it missed events).
      subscription->pageFull = false;
      subscription->behind = false;
    } else {
      subscription->pageFull = events->size() >= pageSize();
      for (const auto& event : *events)
        if (auto envelope = Hub::envelope(event); sees(*envelope))
          subscription->pending.push_back(std::move(envelope));
    }
    pump();
  }

  // Moves replayed events into the send queue while it has room, fetches the
  // next page once a page is out, and goes live (held events first) at the end
  // of the history.
  void pump() {
    for (auto& subscription : subscriptions_) {
      if (!flush(subscription)) return;
      if (!subscription.replaying || subscription.fetching || !subscription.pending.empty()) continue;
      if (subscription.pageFull || subscription.behind) {
        subscription.pageFull = false;
        if (!fetchPage(subscription)) subscription.held.clear();  // draining: the close follows
        continue;
      }
      subscription.replaying = false;
      subscription.pending.assign(subscription.held.begin(), subscription.held.end());
      subscription.held.clear();
      if (!flush(subscription)) return;
    }
  }

  // Queues pending events up to half the send queue (the rest stays for live
  // events of other subscriptions); false once the connection is closing.
  bool flush(TopicFollow& subscription) {
    std::size_t room = std::max<std::size_t>(limits().sendQueue / 2, 1);
    while (!subscription.pending.empty() && queued_.load() < room) {
      auto event = std::move(subscription.pending.front());
      subscription.pending.pop_front();
      if (!subscription.lastId.empty() && bus::compareIds(event->id, subscription.lastId) <= 0) continue;
      subscription.lastId = event->id;
      write(std::shared_ptr<const std::string>(event, &event->text), false);
    }
    return !closing_;
  }

  void onEvent(const std::shared_ptr<const HubEvent>& event) {
    if (closing_) return;
    bool wanted = false, queuedBehind = false;
    for (auto& subscription : subscriptions_) {
      if (!bus::topicMatches(subscription.pattern, event->topic)) continue;
      if (subscription.replaying) {
        // Too many live events while catching up: drop them and read them from
        // the history with one more page instead.
        if (subscription.held.size() >= limits().sendQueue) {
          subscription.held.clear();
          subscription.behind = true;
        }
        subscription.held.push_back(event);
        continue;
      }
      if (!subscription.pending.empty()) {
        // Still writing out the end of a replay: live events queue behind it.
        if (subscription.pending.size() >= 2 * limits().sendQueue) return slowConsumer();
        subscription.pending.push_back(event);
        queuedBehind = true;
        continue;
      }
      if (!subscription.lastId.empty() && bus::compareIds(event->id, subscription.lastId) <= 0) continue;
      subscription.lastId = event->id;
      wanted = true;
    }
    if (wanted) {
      // Events share one string; a copy of the pointer goes into the queue.
      write(std::shared_ptr<const std::string>(event, &event->text), false);
    }
    if (queuedBehind) pump();
  }

  void send(std::string text) { write(std::make_shared<const std::string>(std::move(text)), false); }

  // On the strand. `counted`: already counted in queued_ by sendFromProvider.
  void write(std::shared_ptr<const std::string> message, bool counted) {
    if (closing_) {
      if (counted) queued_.fetch_sub(1);
      return;
    }
    if (!counted && queued_.fetch_add(1) >= sendQueueLimit()) {
      queued_.fetch_sub(1);
      return slowConsumer();
    }
    queue_.push_back(std::move(message));
    if (!writing_ && accepted_) writeNext();
  }

  void writeNext() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(*queue_.front()),
                    net::bind_cancellation_slot(
                        writeCancel_.slot(),
                        [self = shared_from_this()](const boost::system::error_code& error, std::size_t) {
                          self->queue_.pop_front();
                          self->queued_.fetch_sub(1);
                          self->writing_ = false;
                          if (error) return self->hardClose();
                          if (self->pendingClose_) return self->startClose();
                          self->pump();
                          if (!self->writing_ && !self->queue_.empty()) self->writeNext();
                        }));
  }

  void closeWith(std::uint16_t code, std::string reason) {
    if (closing_ || closed_.load()) return;
    if (!accepted_) {
      if (!deferredClose_) deferredClose_.emplace(code, std::move(reason));
      return;
    }
    closing_ = true;
    // No control callback from here on: with one set, Beast's read yields
    // between parsing the peer's close frame and handling it, and when our
    // close's write completes in that gap, the read (holding the read lock)
    // and the close (holding the write lock) wait for each other for ever
    // (Boost 1.81: the close parks in op_r_close, the read in op_rd). Pings
    // are not counted against the rate any more; the close deadline bounds
    // what is left.
    ws_.control_callback();
    closeReason_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason.substr(0, 120));
    // Messages not yet on the wire are dropped; the one being written finishes first.
    std::size_t dropped = queue_.size() - (writing_ ? 1 : 0);
    queue_.erase(queue_.begin() + (writing_ ? 1 : 0), queue_.end());
    queued_.fetch_sub(dropped);
    armCloseDeadline();
    if (writing_)
      pendingClose_ = true;
    else
      startClose();
  }

  void startClose() {
    pendingClose_ = false;
    closeStarted_ = true;
    ws_.async_close(closeReason_, net::bind_cancellation_slot(
                                      closeCancel_.slot(),
                                      [self = shared_from_this()](const boost::system::error_code& error) {
                                        self->closeAnswered_ = true;
                                        if (error) self->hardClose();
                                      }));
  }

  void armCloseDeadline() {
    if (closeDeadlineArmed_ || closed_.load()) return;
    closeDeadlineArmed_ = true;
    closeDeadline_.expires_after(kCloseDeadline);
    closeDeadline_.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
      if (!error) self->closeOverdue();
    });
  }

  // The close did not end in time (a peer that never answers, or Beast
  // operations left suspended on each other): every pending operation is
  // cancelled, the socket closed, and the connection ends here.
  void closeOverdue() {
    if (closed_.load()) return;
    token_->context.log().warn(
        "WebSocket client " + upgrade_.request.remoteAddress + ": close not done within " +
        std::to_string(kCloseDeadline.count()) + " s; dropping the connection (" +
        (accepted_ ? "" : "handshake unfinished, ") + (writing_ ? "a write pending, " : "") +
        (pendingClose_ ? "close waiting for it, " : "") + (closeStarted_ ? "close frame sent, " : "") +
        (closeAnswered_ ? "close answered, " : "") + (reading_ ? "a read pending" : "no read pending") + ")");
    for (auto* signal : {&readCancel_, &writeCancel_, &closeCancel_})
      signal->emit(net::cancellation_type::terminal);
    hardClose();
    finish(1006);
  }

  void slowConsumer() {
    token_->context.log().warn("WebSocket client " + upgrade_.request.remoteAddress +
                               ": send queue full (slow consumer); closing");
    hardClose();
  }

  void hardClose() {
    closing_ = true;
    armCloseDeadline();
    boost::system::error_code ignored;
    auto& socket = beast::get_lowest_layer(ws_).socket();
    socket.shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  // The read loop ended: the connection is over.
  void finish(std::uint16_t code) {
    if (closed_.exchange(true)) return;
    closing_ = true;
    if (hubRegistration_ != 0) {
      token_->hub.remove(hubRegistration_);
      hubRegistration_ = 0;
    }
    if (session_) {
      try {
        session_->onClose(code);
      } catch (...) {
        token_->context.log().error("WebSocket route: exception escaped onClose()");
      }
    }
    // The provider's objects go before the lease that keeps its code mapped.
    session_.reset();
    peer_.reset();
    lease_ = {};
    closeDeadline_.cancel();
    if (!writing_) hardClose();
  }

  LiveToken token_;
  websocket::stream<WebSocketTransport> ws_;
  net::steady_timer closeDeadline_{ws_.get_executor()};
  net::cancellation_signal readCancel_, writeCancel_, closeCancel_;
  bhttp::request<bhttp::string_body> head_;
  Upgrade upgrade_;
  beast::flat_buffer buffer_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  std::atomic<std::size_t> queued_{0};
  std::atomic<bool> closed_{false};
  bool writing_ = false;
  bool accepted_ = false;
  std::optional<std::pair<std::uint16_t, std::string>> deferredClose_;
  bool closing_ = false;
  bool pendingClose_ = false;
  bool closeDeadlineArmed_ = false;
  bool closeStarted_ = false;   // async_close called
  bool closeAnswered_ = false;  // its handler ran
  bool reading_ = false;        // an async_read is pending
  websocket::close_reason closeReason_;
  double rate_ = 0;
  double tokens_ = 0;
  std::chrono::steady_clock::time_point refilled_;
  std::vector<TopicFollow> subscriptions_;
  mutable std::mutex patternsMutex_;  // patterns_ is read from bus threads
  std::shared_ptr<const std::vector<std::string>> patterns_;
  std::uint64_t registration_ = 0;
  std::uint64_t hubRegistration_ = 0;
  RouteOwner::Lease lease_;
  std::shared_ptr<http::WebSocketSession> session_;
  bool sees(const HubEvent& event) const { return viewer_.sees(event.tenant, event.project); }
  // Whose events a hub client sees; set in start(), before the hub knows the client.
  plugin_common::Viewer viewer_{tenancy::Scope::everything(), {}};
  std::shared_ptr<Peer> peer_;
};

Status Peer::send(std::string text) {
  auto connection = connection_.lock();
  if (!connection) return unavailable("connection closed");
  return connection->sendFromProvider(std::move(text));
}

void Peer::close(std::uint16_t code, std::string reason) {
  if (auto connection = connection_.lock()) connection->closeFromProvider(code, std::move(reason));
}

}  // namespace

void startWebSocket(std::shared_ptr<Shared> shared, WebSocketTransport stream,
                    bhttp::request<bhttp::string_body> head, Upgrade upgrade) {
  std::make_shared<WebSocketConnection>(std::move(shared), std::move(stream), std::move(head),
                                        std::move(upgrade))
      ->start();
}

}  // namespace hive::api
