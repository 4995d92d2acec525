#include "messenger.hpp"

#include <algorithm>

#include <boost/json.hpp>

#include "plugin_common/clock_ids.hpp"
#include "plugin_common/json_fields.hpp"

namespace hive::communication_manager {
namespace json = boost::json;
using plugin_common::stringField;
namespace {

constexpr std::string_view kQueued = "messages.queued";
constexpr std::string_view kAcked = "messages.acked";
constexpr std::string_view kDeadLettered = "messages.dead_lettered";
constexpr std::string_view kExpired = "messages.expired";
constexpr std::string_view kReplayed = "messages.replayed";
constexpr std::string_view kDiscarded = "messages.discarded";

std::optional<json::object> parseObject(std::string_view text) {
  std::error_code ec;
  json::parse_options options;
  options.max_depth = 64;
  json::value parsed = json::parse(text, ec, {}, options);
  if (ec || !parsed.is_object()) return std::nullopt;
  return std::move(parsed.as_object());
}

std::string reasonOf(StatusCode code) {
  switch (code) {
    case StatusCode::kNotFound: return "unknown_recipient";
    case StatusCode::kResourceExhausted: return "queue_full";
    case StatusCode::kInvalidArgument: return "invalid_message";
    default: return "unavailable";
  }
}

// What other nodes need to hear about one queued copy.
// `tenant`: the recipient's, so that the api's WebSocket hub shows it to that tenant only.
std::string queuedEvent(const Envelope& envelope, const std::string& node, const std::string& streamId,
                        const std::string& tenant) {
  std::string stored = storedText(envelope);
  json::object head{{"node", node}, {"stream_id", streamId}};
  if (!tenant.empty()) head["tenant"] = tenant;
  std::string text = json::serialize(head);
  text.pop_back();
  return text + "," + stored.substr(1);
}

std::string noticeEvent(std::string_view id, std::string_view agent, std::string_view node,
                        std::string_view reason = {}) {
  json::object o{{"id", id}, {"agent", agent}, {"node", node}};
  if (!reason.empty()) o["reason"] = reason;
  return json::serialize(o);
}

}  // namespace

Messenger::Messenger(PluginContext& context, Options options, ServiceHandle<bus::Bus> bus,
                     ServiceHandle<store::Store> store, ServiceHandle<agents::AgentFrames> frames)
    : context_(context),
      options_(std::move(options)),
      bus_(std::move(bus)),
      frames_(std::move(frames)),
      directory_(std::move(store)),
      limits_(options_.ratePerSecond, options_.rateBurst),
      events_(context.services(),
              [this](bus::Bus& bus) {
                return bus.subscribe("messages.*", [this](const bus::Event& event) { onEvent(event); });
              }),
      frameHandler_(context.services(),
                    [this](agents::AgentFrames& frames) -> std::unique_ptr<Subscription> {
                      auto handler = frames.onFrames(
                          "message.", [this](const std::string& agent, const std::string& frame) {
                            onFrame(agent, frame);
                          });
                      if (!handler.ok()) {
                        context_.log().error("cannot take message.* frames: " + handler.status().toString());
                        return nullptr;
                      }
                      return std::move(handler).value();
                    }),
      presence_(context.services(), [this](agents::AgentFrames& frames) {
        auto subscription = frames.onPresence([this](const agents::AgentPresence& p) { onPresence(p); });
        // Agents that said hello before this attached (a start after them, a swap).
        for (const auto& presence : frames.connected()) onPresence(presence);
        return subscription;
      }) {}

Messenger::~Messenger() { close(); }

Status Messenger::open() {
  HIVE_TRY(directory_.open());
  open_ = true;
  HIVE_TRY(events_.start(), "communication_manager needs hive.bus/1");
  HIVE_TRY(frameHandler_.start(), "communication_manager needs hive.agent_frames/1");
  HIVE_TRY(presence_.start());
  return okStatus();
}

void Messenger::close() {
  open_ = false;
  frameHandler_.stop();
  presence_.stop();
  events_.stop();
  std::unique_lock lock(idleMutex_);
  idleChanged_.wait(lock, [this] { return inFlight_ == 0; });
}

void Messenger::post(std::function<void()> work) {
  ++inFlight_;
  context_.blocking().post([self = shared_from_this(), work = std::move(work)] {
    work();
    std::lock_guard lock(self->idleMutex_);
    if (--self->inFlight_ == 0) self->idleChanged_.notify_all();
  });
}

// ---- frames from agents

void Messenger::onFrame(const std::string& agentId, const std::string& frame) {
  if (!open_) return;
  auto parsed = parseObject(frame);
  if (!parsed) return reply(agentId, errorFrame("a message must be a JSON object", "invalid_message", {}));
  std::string type = stringField(*parsed, "type");
  if (type == "message.send") return handleSend(agentId, frame);
  if (type == "message.ack") return handleAck(agentId, stringField(*parsed, "id"));
  if (type == "message.subscribe" || type == "message.unsubscribe")
    return handleSubscription(agentId, stringField(*parsed, "topic"), type == "message.subscribe");
  reply(agentId, errorFrame("unknown message type '" + type + "'", "invalid_message", {}));
}

void Messenger::reply(const std::string& agentId, std::string frame) {
  if (auto frames = frames_.lease()) (void)frames->send(agentId, std::move(frame));
}

void Messenger::handleSend(const std::string& agentId, const std::string& frame) {
  std::string ref;
  std::vector<http::FieldError> errors;
  auto request = parseSendRequest(frame, options_, errors, ref);
  if (!request.ok()) {
    std::string why = request.status().message();
    for (const auto& e : errors) why += "; " + e.field + ": " + e.message;
    bool tooLarge = request.status().code() == StatusCode::kResourceExhausted;
    return reply(agentId, errorFrame(why, tooLarge ? "too_large" : "invalid_message", ref));
  }
  if (!withinRate(agentId))
    return reply(agentId,
                 errorFrame("agent " + agentId + " sends more than " +
                                std::to_string(static_cast<long long>(options_.ratePerSecond)) +
                                " messages a second (rate_per_second): not accepted, send it again later",
                            "rate_limited", ref));
  auto tenant = tenantOfAgent(tenancy::Scope::everything(), agentId);
  if (!tenant.ok()) return reply(agentId, errorFrame(tenant.status().message(), "unavailable", ref));
  auto accepted = send(agentId, tenancy::Scope{*tenant, false}, *request);
  if (!accepted.ok())
    return reply(agentId, errorFrame(accepted.status().message(), reasonOf(accepted.status().code()), ref));
  json::object answer{{"type", "message.accepted"}, {"id", accepted->id}};
  if (!ref.empty()) answer["ref"] = ref;
  answer["recipients"] = accepted->recipients.size();
  if (!accepted->full.empty()) {
    json::array full;
    for (const auto& r : accepted->full) full.emplace_back(r);
    answer["full"] = std::move(full);
  }
  reply(agentId, json::serialize(answer));
}

void Messenger::handleAck(const std::string& agentId, const std::string& id) {
  std::string streamId;
  {
    std::lock_guard lock(mutex_);
    auto inbox = inboxes_.find(agentId);
    if (inbox == inboxes_.end()) return;
    auto found = inbox->second.inFlight.find(id);
    // An ack of a message not in flight here (acked already, or delivered by
    // an earlier connection) changes nothing: it is delivered again if pending.
    if (found == inbox->second.inFlight.end()) return;
    streamId = found->second.streamId;
    inbox->second.inFlight.erase(found);
  }
  auto bus = bus_.lease();
  if (!bus) return;
  Status acked = bus->ack(inboxStream(agentId), kGroup, {streamId});
  if (!acked.ok()) {
    context_.log().warn("ack of message " + id + " for agent " + agentId + ": " + acked.toString());
    return;
  }
  countQueued(agentId, -1);
  publish(*bus, kAcked, noticeEvent(id, agentId, options_.node));
  schedulePump(agentId);
}

void Messenger::handleSubscription(const std::string& agentId, const std::string& topic, bool subscribe) {
  Status checked = checkName(topic, "topic");
  if (!checked.ok()) return reply(agentId, errorFrame(checked.message(), "invalid_message", {}));
  Status done = subscribe ? directory_.subscribe(agentId, topic, options_.maxSubscriptions)
                          : directory_.unsubscribe(agentId, topic);
  if (!done.ok())
    return reply(agentId, errorFrame(done.message(),
                                     done.code() == StatusCode::kResourceExhausted ? "too_many_subscriptions"
                                                                                   : "unavailable",
                                     {}));
  reply(agentId, json::serialize(json::object{
                     {"type", subscribe ? "message.subscribed" : "message.unsubscribed"}, {"topic", topic}}));
}

// ---- presence

void Messenger::onPresence(const agents::AgentPresence& presence) {
  if (!open_) return;
  if (!presence.connected) {
    std::uint64_t epoch;
    {
      std::lock_guard lock(mutex_);
      auto inbox = inboxes_.find(presence.agentId);
      if (inbox == inboxes_.end()) return;
      epoch = inbox->second.epoch;
    }
    // The departure may come from an orchestrator generation that handed its
    // agents over to the next one, after the agent already said hello there:
    // the inbox goes only if the agent is not connected to this node now.
    post([this, agentId = presence.agentId, epoch] {
      auto frames = frames_.lease();
      if (frames)
        for (const auto& p : frames->connected())
          if (p.agentId == agentId) return;
      std::lock_guard lock(mutex_);
      if (auto inbox = inboxes_.find(agentId); inbox != inboxes_.end() && inbox->second.epoch == epoch)
        inboxes_.erase(inbox);
    });
    return;
  }
  Status recorded = directory_.record(presence);
  if (!recorded.ok()) context_.log().warn("agent " + presence.agentId + ": " + recorded.toString());
  {
    std::lock_guard lock(mutex_);
    Inbox fresh;
    fresh.epoch = ++epochs_;
    inboxes_[presence.agentId] = std::move(fresh);
  }
  schedulePump(presence.agentId);
}

// ---- sending

Result<std::string> Messenger::tenantOfAgent(const tenancy::Scope& scope, const std::string& agentId) {
  auto tenant = HIVE_TRY(directory_.tenantOf(agentId));
  if (!tenant || !scope.sees(*tenant))
    return notFound("no agent " + agentId + " (an agent can receive messages once it has connected)");
  return *tenant;
}

Result<std::vector<std::string>> Messenger::resolve(const Address& to, const std::string& from,
                                                    const tenancy::Scope& scope) {
  if (to.kind == Address::Kind::kAgent) {
    HIVE_TRY(tenantOfAgent(scope, to.name).status());
    return std::vector<std::string>{to.name};
  }
  const Directory::Tenant tenant = scope.allTenants ? std::nullopt : std::optional(scope.tenant);
  auto members = HIVE_TRY(to.kind == Address::Kind::kRole
                              ? directory_.ofRole(to.name, tenant, options_.maxRecipients + 1)
                              : directory_.subscribers(to.name, tenant, options_.maxRecipients + 1));
  std::erase(members, from);
  if (members.size() > options_.maxRecipients)
    return Status(StatusCode::kResourceExhausted, to.text() + " has more than " +
                                                      std::to_string(options_.maxRecipients) +
                                                      " recipients (max_recipients)");
  if (members.empty() && to.kind == Address::Kind::kRole)
    return notFound("no agent has role '" + to.name + "'");
  return members;
}

Result<Accepted> Messenger::send(const std::string& from, const tenancy::Scope& scope,
                                 const SendRequest& request) {
  if (!open_) return unavailable("communication_manager is stopping");
  auto recipients = HIVE_TRY(resolve(request.to, from, scope));
  // Each copy's event carries its recipient's tenant: read before anything is queued.
  std::map<std::string, std::string> tenants;
  for (const auto& recipient : recipients)
    tenants[recipient] = HIVE_TRY(directory_.tenantOf(recipient)).value_or("");
  auto bus = bus_.lease();
  if (!bus) return unavailable("no hive.bus/1 provider is running");
  Envelope envelope;
  envelope.id = newMessageId();
  envelope.from = from;
  envelope.to = request.to.text();
  envelope.body = request.body;
  envelope.replyTo = request.replyTo;
  envelope.correlationId = request.correlationId;
  envelope.sentAtMs = plugin_common::nowMs();
  if (request.ttlMs != 0) envelope.expiresAtMs = envelope.sentAtMs + request.ttlMs;
  Accepted accepted{envelope.id, {}, {}};
  for (const auto& recipient : recipients) {
    bool full = false;
    {
      std::lock_guard lock(mutex_);
      auto found = queued_.find(recipient);
      full = found != queued_.end() && found->second >= static_cast<std::int64_t>(options_.maxQueue);
    }
    if (full) {
      if (request.to.kind == Address::Kind::kAgent)
        return Status(StatusCode::kResourceExhausted, "the queue of agent " + recipient + " holds " +
                                                          std::to_string(options_.maxQueue) +
                                                          " messages (max_queue): not accepted");
      accepted.full.push_back(recipient);
      continue;
    }
    HIVE_TRY(ensureGroup(*bus, recipient));
    envelope.recipient = recipient;
    auto streamId = HIVE_TRY(bus->append(inboxStream(recipient), storedText(envelope)),
                             "queueing message for " + recipient);
    countQueued(recipient, +1);
    accepted.recipients.push_back(recipient);
    publish(*bus, kQueued, queuedEvent(envelope, options_.node, streamId, tenants[recipient]));
    bool here;
    {
      std::lock_guard lock(mutex_);
      here = inboxes_.count(recipient) != 0;
    }
    if (here) schedulePump(recipient);
  }
  std::lock_guard lock(mutex_);
  if (!request.replyTo.empty()) requests_.erase(request.replyTo);
  if (request.replyTimeoutMs != 0 && !from.starts_with("client:"))
    requests_[envelope.id] = {from, request.correlationId, envelope.sentAtMs + request.replyTimeoutMs};
  return accepted;
}

Status Messenger::ensureGroup(bus::Bus& bus, const std::string& agentId) {
  {
    std::lock_guard lock(mutex_);
    if (groups_.count(agentId) != 0) return okStatus();
  }
  // Redelivery and dead letters are this plugin's (maxDeliveries 0): it
  // counts and reports each message it moves.
  HIVE_TRY(bus.createGroup(inboxStream(agentId), kGroup, {0, true}));
  std::lock_guard lock(mutex_);
  groups_.insert(agentId);
  return okStatus();
}

void Messenger::countQueued(const std::string& agentId, std::int64_t delta) {
  std::lock_guard lock(mutex_);
  auto& count = queued_[agentId];
  count = std::max<std::int64_t>(0, count + delta);
  if (count == 0) queued_.erase(agentId);
}

void Messenger::publish(bus::Bus& bus, std::string_view topic, const std::string& payload) {
  auto published = bus.publish(topic, payload);
  if (!published.ok())
    context_.log().warn("event " + std::string(topic) + ": " + published.status().toString());
}

// ---- events from every node

void Messenger::onEvent(const bus::Event& event) {
  if (!open_) return;
  auto o = parseObject(event.payload);
  if (!o) return;
  bool mine = stringField(*o, "node") == options_.node;
  if (event.topic == kQueued || event.topic == kReplayed) {
    std::string recipient = stringField(*o, event.topic == kQueued ? "recipient" : "agent");
    if (mine) return;
    countQueued(recipient, +1);
    bool here;
    {
      std::lock_guard lock(mutex_);
      if (auto replyTo = stringField(*o, "reply_to"); !replyTo.empty()) requests_.erase(replyTo);
      here = inboxes_.count(recipient) != 0;
    }
    if (here) schedulePump(recipient);
  } else if (!mine && (event.topic == kAcked || event.topic == kDeadLettered || event.topic == kExpired)) {
    countQueued(stringField(*o, "agent"), -1);
  }
}

// ---- delivery

void Messenger::schedulePump(const std::string& agentId) {
  if (!open_) return;
  post([this, agentId] { pump(agentId); });
}

void Messenger::pump(const std::string& agentId) {
  bool takeOver;
  std::size_t room;
  {
    std::lock_guard lock(mutex_);
    auto inbox = inboxes_.find(agentId);
    if (inbox == inboxes_.end()) return;
    if (inbox->second.pumping) {
      inbox->second.again = true;
      return;
    }
    inbox->second.pumping = true;
    takeOver = std::exchange(inbox->second.takeOver, false);
    room = options_.maxInFlight - std::min(options_.maxInFlight, inbox->second.inFlight.size());
  }
  auto finish = [&] {
    std::lock_guard lock(mutex_);
    if (auto inbox = inboxes_.find(agentId); inbox != inboxes_.end()) inbox->second.pumping = false;
  };
  auto bus = bus_.lease();
  if (!bus || !ensureGroup(*bus, agentId).ok()) return finish();
  std::string stream = inboxStream(agentId);
  for (;;) {
    Result<std::vector<bus::StreamMessage>> batch = std::vector<bus::StreamMessage>{};
    // A new connection first gets what an earlier one left unacked, on any node.
    if (takeOver)
      batch =
          bus->claimIdle(stream, kGroup, options_.node, std::chrono::milliseconds(0), options_.maxInFlight);
    else if (room > 0)
      batch = bus->read(stream, kGroup, options_.node, room, std::chrono::milliseconds(0));
    if (!batch.ok()) {
      context_.log().warn("reading messages for agent " + agentId + ": " + batch.status().toString());
      return finish();
    }
    bool stopped = false;
    for (const auto& message : *batch)
      if (!deliver(*bus, agentId, message)) {
        stopped = true;
        break;
      }
    std::lock_guard lock(mutex_);
    auto inbox = inboxes_.find(agentId);
    if (inbox == inboxes_.end()) return;
    room = options_.maxInFlight - std::min(options_.maxInFlight, inbox->second.inFlight.size());
    // After the take-over (all of it: claimed until a batch is not full),
    // new messages are read.
    bool more = takeOver || (!batch->empty() && room > 0);
    takeOver = takeOver && batch->size() == options_.maxInFlight;
    if (stopped || (!more && !inbox->second.again)) {
      inbox->second.pumping = false;
      return;
    }
    inbox->second.again = false;
  }
}

bool Messenger::deliver(bus::Bus& bus, const std::string& agentId, const bus::StreamMessage& message) {
  std::string stream = inboxStream(agentId);
  auto envelope = parseStored(message.payload);
  if (!envelope.ok()) {
    (void)bus.deadLetter(stream, kGroup, message.id, "unreadable: " + envelope.status().message());
    countQueued(agentId, -1);
    return true;
  }
  if (envelope->expiresAtMs != 0 && plugin_common::nowMs() > envelope->expiresAtMs) {
    (void)bus.ack(stream, kGroup, {message.id});
    countQueued(agentId, -1);
    publish(bus, kExpired, noticeEvent(envelope->id, agentId, options_.node));
    return true;
  }
  if (message.deliveries > options_.maxDeliveries) {
    std::string reason = "delivered " + std::to_string(options_.maxDeliveries) + " times without an ack";
    Status moved = bus.deadLetter(stream, kGroup, message.id, reason);
    if (!moved.ok()) {
      context_.log().warn("dead-lettering message " + envelope->id + ": " + moved.toString());
      return true;
    }
    countQueued(agentId, -1);
    publish(bus, kDeadLettered, noticeEvent(envelope->id, agentId, options_.node, reason));
    return true;
  }
  {
    std::lock_guard lock(mutex_);
    auto inbox = inboxes_.find(agentId);
    if (inbox == inboxes_.end()) return false;
    inbox->second.inFlight[envelope->id] = {message.id, plugin_common::nowMs()};
  }
  auto frames = frames_.lease();
  Status sent = frames ? frames->send(agentId, deliveryFrame(*envelope, message.deliveries))
                       : unavailable("no hive.agent_frames/1 provider");
  if (sent.ok()) return true;
  // Still pending on the bus: the agent gets it when it is back. Not
  // connected here any more: no claims for it until it says hello again.
  std::lock_guard lock(mutex_);
  if (auto inbox = inboxes_.find(agentId); inbox != inboxes_.end()) {
    if (sent.code() == StatusCode::kNotFound)
      inboxes_.erase(inbox);
    else
      inbox->second.inFlight.erase(envelope->id);
  }
  return false;
}

void Messenger::sweep() {
  if (!open_) return;
  std::vector<std::string> agents;
  std::vector<std::pair<std::string, std::string>> timedOut;  // requester, frame
  std::int64_t now = plugin_common::nowMs();
  {
    std::lock_guard lock(mutex_);
    // Only where a delivery waits past ack_timeout: what an earlier
    // connection left is taken over when the agent says hello.
    for (const auto& [agent, inbox] : inboxes_)
      if (std::any_of(inbox.inFlight.begin(), inbox.inFlight.end(), [&](const auto& entry) {
            return now - entry.second.atMs >= options_.ackTimeout.count();
          }))
        agents.push_back(agent);
    for (auto it = requests_.begin(); it != requests_.end();) {
      if (it->second.deadlineMs > now) {
        ++it;
        continue;
      }
      json::object frame{{"type", "message.timeout"}, {"id", it->first}};
      if (!it->second.correlationId.empty()) frame["correlation_id"] = it->second.correlationId;
      timedOut.emplace_back(it->second.requester, json::serialize(frame));
      it = requests_.erase(it);
    }
  }
  for (auto& [requester, frame] : timedOut) reply(requester, std::move(frame));
  limits_.forgetIdle();
  auto bus = bus_.lease();
  if (!bus) return;
  for (const auto& agent : agents) {
    // Delivered, unacked for ack_timeout: the agent gets it again.
    auto late =
        bus->claimIdle(inboxStream(agent), kGroup, options_.node, options_.ackTimeout, options_.maxInFlight);
    if (!late.ok()) continue;
    for (const auto& message : *late)
      if (!deliver(*bus, agent, message)) break;
    schedulePump(agent);
  }
}

// ---- REST

Result<RecentPage> Messenger::recent(const tenancy::Scope& scope, const std::string& agentId,
                                     const std::string& after, std::size_t limit) {
  if (!agentId.empty()) HIVE_TRY(tenantOfAgent(scope, agentId).status());
  auto bus = bus_.lease();
  if (!bus) return unavailable("no hive.bus/1 provider is running");
  std::string cursor = after;
  if (cursor.empty()) {
    // From the oldest event the history still has: probe back from now.
    std::int64_t now = plugin_common::nowMs();
    for (std::int64_t back : {std::int64_t{-1}, std::int64_t{86'400'000}, std::int64_t{3'600'000},
                              std::int64_t{600'000}, std::int64_t{60'000}, std::int64_t{0}}) {
      cursor = back < 0 ? "0-0" : std::to_string(now - back) + "-0";
      auto probe = bus->replay(kQueued, cursor, 1);
      if (probe.ok()) break;
    }
  }
  RecentPage page;
  std::vector<std::string> matching;
  for (int pages = 0; pages < 20; ++pages) {
    auto events = bus->replay(kQueued, cursor, 1000);
    if (!events.ok()) {
      if (events.status().code() == StatusCode::kOutOfRange)
        return Status(StatusCode::kOutOfRange,
                      "the cursor is older than the event history keeps: start again "
                      "without `after`");
      return events.status();
    }
    if (events->empty()) break;
    for (const auto& event : *events) {
      cursor = event.id;
      auto o = parseObject(event.payload);
      if (!o) continue;
      if (!agentId.empty() && stringField(*o, "recipient") != agentId && stringField(*o, "from") != agentId)
        continue;
      if (!scope.sees(stringField(*o, "tenant"))) continue;
      (*o)["event_id"] = event.id;
      std::string text = json::serialize(*o);
      // The body as sent, not re-serialised.
      matching.push_back(std::move(text));
      if (!after.empty() && matching.size() == limit) {
        page.items = std::move(matching);
        page.nextCursor = cursor;
        return page;
      }
    }
  }
  if (after.empty() && matching.size() > limit) matching.erase(matching.begin(), matching.end() - limit);
  page.items = std::move(matching);
  page.nextCursor = cursor == after ? after : cursor;
  return page;
}

Result<std::pair<std::string, std::string>> Messenger::splitKey(const std::string& key) {
  auto cut = key.find('~');
  if (cut == std::string::npos || cut == 0 || cut + 1 == key.size())
    return invalidArgument("a dead letter id is \"<agent id>~<id>\", got '" + key + "'");
  return std::make_pair(key.substr(0, cut), key.substr(cut + 1));
}

Result<std::vector<DeadLetterView>> Messenger::deadLetters(const tenancy::Scope& scope,
                                                           const std::string& agentId, std::size_t limit) {
  auto bus = bus_.lease();
  if (!bus) return unavailable("no hive.bus/1 provider is running");
  std::vector<std::string> agents;
  if (!agentId.empty()) {
    HIVE_TRY(tenantOfAgent(scope, agentId).status());
    agents.push_back(agentId);
  } else {
    agents =
        HIVE_TRY(directory_.agents(scope.allTenants ? std::nullopt : std::optional(scope.tenant), 10000));
  }
  std::vector<DeadLetterView> out;
  for (const auto& agent : agents) {
    auto letters = bus->deadLetters(inboxStream(agent), kGroup, limit);
    if (!letters.ok()) {
      if (letters.status().code() == StatusCode::kNotFound) continue;
      return letters.status();
    }
    for (auto& letter : *letters) {
      std::string key = agent + "~" + letter.id;
      if (HIVE_TRY(directory_.discarded(key))) continue;
      out.push_back({key, agent, std::move(letter)});
      if (out.size() == limit) return out;
    }
  }
  return out;
}

Status Messenger::replayDeadLetter(const tenancy::Scope& scope, const std::string& key) {
  auto [agent, id] = HIVE_TRY(splitKey(key));
  if (!tenantOfAgent(scope, agent).ok()) return notFound("no dead letter " + key);
  if (HIVE_TRY(directory_.discarded(key))) return notFound("dead letter " + key + " was discarded");
  auto bus = bus_.lease();
  if (!bus) return unavailable("no hive.bus/1 provider is running");
  std::size_t replayed = HIVE_TRY(bus->replayDeadLetters(inboxStream(agent), kGroup, {id}));
  if (replayed == 0) return notFound("no dead letter " + key);
  countQueued(agent, +1);
  publish(*bus, kReplayed, noticeEvent(key, agent, options_.node));
  bool here;
  {
    std::lock_guard lock(mutex_);
    here = inboxes_.count(agent) != 0;
  }
  if (here) schedulePump(agent);
  return okStatus();
}

Status Messenger::discardDeadLetter(const tenancy::Scope& scope, const std::string& key) {
  auto [agent, id] = HIVE_TRY(splitKey(key));
  if (!tenantOfAgent(scope, agent).ok()) return notFound("no dead letter " + key);
  auto letters = HIVE_TRY(deadLetters(scope, agent, 100000));
  bool found =
      std::any_of(letters.begin(), letters.end(), [&](const DeadLetterView& v) { return v.key == key; });
  if (!found) return notFound("no dead letter " + key);
  HIVE_TRY(directory_.discard(key));
  if (auto bus = bus_.lease()) publish(*bus, kDiscarded, noticeEvent(key, agent, options_.node));
  return okStatus();
}

}  // namespace hive::communication_manager
