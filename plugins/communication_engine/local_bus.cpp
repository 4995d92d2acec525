#include "local_bus.hpp"

#include <algorithm>

namespace hive::communication_engine {
namespace {

Status checkStreamAndGroup(std::string_view stream, std::string_view group) {
  HIVE_TRY(checkTopic(stream, "stream"));
  HIVE_TRY(checkLabel(group, "group"));
  return okStatus();
}

std::string deliveredReason(std::uint32_t deliveries) {
  return "delivered " + std::to_string(deliveries) + " times";
}

}  // namespace

LocalBus::LocalBus(const BusConfig& config, Logger& log, std::shared_ptr<BusMetrics> metrics)
    : config_(config),
      log_(log),
      metricsOwner_(std::move(metrics)),
      metrics_(*metricsOwner_),
      dispatcher_(config.dispatchQueue, log, metrics_.callbackErrors) {}

LocalBus::~LocalBus() { stop(); }

void LocalBus::start() {
  {
    std::lock_guard lock(streamsMutex_);
    stopping_ = false;
  }
  dispatcher_.start();
}

void LocalBus::stop() {
  {
    std::lock_guard lock(streamsMutex_);
    stopping_ = true;
  }
  appended_.notify_all();
  dispatcher_.stop();
}

Status LocalBus::checkPayload(std::string_view payload) const {
  if (payload.size() > config_.maxPayload)
    return invalidArgument("payload of " + std::to_string(payload.size()) + " bytes is over the limit of " +
                           std::to_string(config_.maxPayload));
  return okStatus();
}

// ---- events

Result<std::string> LocalBus::publish(std::string_view topic, std::string_view payload) {
  HIVE_TRY(checkTopic(topic));
  HIVE_TRY(checkPayload(payload));
  std::lock_guard lock(eventsMutex_);  // ids, history and delivery in one order
  bus::Event event;
  event.id = eventIds_.next();
  event.topic = std::string(topic);
  event.payload = std::string(payload);
  event.timestampMs = static_cast<std::int64_t>(parseId(event.id).milliseconds);
  if (!dispatcher_.enqueue(event)) {
    metrics_.rejected.increment();
    return resourceExhausted("event dispatch queue full (" + std::to_string(config_.dispatchQueue) +
                             " events waiting for subscribers)");
  }
  // Bounded by count and by bytes: 10,000 events of 250 KB tasks would
  // otherwise hold 2.5 GB of host memory for replay alone.
  historyBytes_ += event.topic.size() + event.payload.size();
  history_.push_back(event);
  while (history_.size() > config_.history || (historyBytes_ > config_.historyBytes && history_.size() > 1)) {
    historyBytes_ -= history_.front().topic.size() + history_.front().payload.size();
    newestEvicted_ = std::move(history_.front().id);
    history_.pop_front();
  }
  metrics_.published.increment();
  return std::move(event.id);
}

// In process, a publish does not wait for anything: one after the other.
std::vector<Result<std::string>> LocalBus::publishAll(const std::vector<bus::Outgoing>& events) {
  std::vector<Result<std::string>> out;
  out.reserve(events.size());
  for (const auto& event : events) out.push_back(publish(event.topic, event.payload));
  return out;
}

std::unique_ptr<Subscription> LocalBus::subscribe(std::string pattern,
                                                  std::function<void(const bus::Event&)> callback) {
  if (!checkPattern(pattern).ok() || !callback) return nullptr;
  return dispatcher_.subscribe(std::move(pattern), std::move(callback));
}

Result<std::vector<bus::Event>> LocalBus::replay(std::string_view pattern, std::string_view afterId,
                                                 std::size_t limit) {
  HIVE_TRY(checkPattern(pattern));
  HIVE_TRY(checkId(afterId));
  std::lock_guard lock(eventsMutex_);
  if (!newestEvicted_.empty() && bus::compareIds(afterId, newestEvicted_) < 0)
    return Status(StatusCode::kOutOfRange, "events after " + std::string(afterId) +
                                               " are no longer in the history (it keeps " +
                                               std::to_string(config_.history) + " events, " +
                                               std::to_string(config_.historyBytes) + " bytes)");
  std::vector<bus::Event> out;
  auto first = std::upper_bound(
      history_.begin(), history_.end(), afterId,
      [](std::string_view id, const bus::Event& e) { return bus::compareIds(id, e.id) < 0; });
  for (auto it = first; it != history_.end() && out.size() < limit; ++it)
    if (bus::topicMatches(pattern, it->topic)) out.push_back(*it);
  return out;
}

// ---- streams

ParsedId LocalBus::nextId(ParsedId& last) {
  auto now = static_cast<std::uint64_t>(nowMilliseconds());
  last = now > last.milliseconds ? ParsedId{now, 0} : ParsedId{last.milliseconds, last.sequence + 1};
  return last;
}

Result<LocalBus::Group*> LocalBus::findGroup(std::string_view stream, std::string_view group) {
  auto s = streams_.find(stream);
  if (s == streams_.end()) return notFound("no stream '" + std::string(stream) + "'");
  auto g = s->second.groups.find(group);
  if (g == s->second.groups.end())
    return notFound("no group '" + std::string(group) + "' on stream '" + std::string(stream) + "'");
  return &g->second;
}

const LocalBus::Entry* LocalBus::findEntry(const Stream& stream, ParsedId id) const {
  auto it = std::lower_bound(stream.entries.begin(), stream.entries.end(), id,
                             [](const Entry& e, ParsedId value) { return e.id < value; });
  return it != stream.entries.end() && it->id == id ? &*it : nullptr;
}

std::string LocalBus::appendLocked(Stream& stream, std::string payload) {
  ParsedId id = nextId(stream.lastId);
  stream.entries.push_back({id, std::move(payload)});
  return formatId(id);
}

Result<std::string> LocalBus::append(std::string_view stream, std::string_view payload) {
  HIVE_TRY(checkTopic(stream, "stream"));
  HIVE_TRY(checkPayload(payload));
  std::string id;
  {
    std::lock_guard lock(streamsMutex_);
    Stream& s = streams_[std::string(stream)];
    if (s.entries.size() >= config_.maxStreamLength) {
      metrics_.rejected.increment();
      return resourceExhausted("stream '" + std::string(stream) + "' holds " +
                               std::to_string(s.entries.size()) + " messages (max_stream_length); trim it");
    }
    id = appendLocked(s, std::string(payload));
  }
  appended_.notify_all();
  metrics_.appended.increment();
  return id;
}

Status LocalBus::createGroup(std::string_view stream, std::string_view group, bus::GroupOptions options) {
  HIVE_TRY(checkStreamAndGroup(stream, group));
  std::lock_guard lock(streamsMutex_);
  Stream& s = streams_[std::string(stream)];
  auto [it, created] = s.groups.try_emplace(std::string(group));
  it->second.options = options;
  if (created && !options.fromBeginning) it->second.lastDelivered = s.lastId;
  return okStatus();
}

Result<std::vector<bus::StreamMessage>> LocalBus::read(std::string_view stream, std::string_view group,
                                                       std::string_view consumer, std::size_t count,
                                                       std::chrono::milliseconds wait) {
  HIVE_TRY(checkStreamAndGroup(stream, group));
  HIVE_TRY(checkLabel(consumer, "consumer"));
  if (count == 0) return invalidArgument("count must be at least 1");
  auto deadline = Clock::now() + wait;
  std::unique_lock lock(streamsMutex_);
  for (;;) {
    Group* g = HIVE_TRY(findGroup(stream, group));
    Stream& s = streams_.find(stream)->second;
    std::vector<bus::StreamMessage> out;
    auto it = std::upper_bound(s.entries.begin(), s.entries.end(), g->lastDelivered,
                               [](ParsedId value, const Entry& e) { return value < e.id; });
    auto now = Clock::now();
    for (; it != s.entries.end() && out.size() < count; ++it) {
      g->pending[it->id] = Pending{std::string(consumer), now, 1};
      g->lastDelivered = it->id;
      out.push_back({std::string(stream), formatId(it->id), it->payload, 1});
    }
    if (!out.empty() || stopping_ || Clock::now() >= deadline) return out;
    appended_.wait_until(lock, deadline);
  }
}

Status LocalBus::ack(std::string_view stream, std::string_view group, const std::vector<std::string>& ids) {
  HIVE_TRY(checkStreamAndGroup(stream, group));
  for (const auto& id : ids) HIVE_TRY(checkId(id));
  std::lock_guard lock(streamsMutex_);
  Group* g = HIVE_TRY(findGroup(stream, group));
  for (const auto& id : ids) g->pending.erase(parseId(id));
  return okStatus();
}

Result<std::vector<bus::PendingMessage>> LocalBus::pending(std::string_view stream, std::string_view group,
                                                           std::size_t limit) {
  HIVE_TRY(checkStreamAndGroup(stream, group));
  std::lock_guard lock(streamsMutex_);
  Group* g = HIVE_TRY(findGroup(stream, group));
  std::vector<bus::PendingMessage> out;
  auto now = Clock::now();
  for (const auto& [id, p] : g->pending) {
    if (out.size() >= limit) break;
    out.push_back({formatId(id), p.consumer,
                   std::chrono::duration_cast<std::chrono::milliseconds>(now - p.lastDelivery),
                   p.deliveries});
  }
  return out;
}

void LocalBus::moveToDeadLetters(Stream& stream, const std::string& groupName, Group& group, ParsedId id,
                                 std::string reason) {
  auto p = group.pending.find(id);
  const Entry* entry = findEntry(stream, id);
  bus::DeadLetter letter;
  letter.id = formatId(nextId(stream.lastDeadId));
  letter.originalId = formatId(id);
  letter.payload = entry ? entry->payload : std::string();
  letter.reason = std::move(reason);
  letter.deliveries = p->second.deliveries;
  stream.dead.push_back({groupName, std::move(letter)});
  group.pending.erase(p);
  metrics_.deadLettered.increment();
}

Result<std::vector<bus::StreamMessage>> LocalBus::claimIdle(std::string_view stream, std::string_view group,
                                                            std::string_view consumer,
                                                            std::chrono::milliseconds minIdle,
                                                            std::size_t count) {
  HIVE_TRY(checkStreamAndGroup(stream, group));
  HIVE_TRY(checkLabel(consumer, "consumer"));
  if (count == 0) return invalidArgument("count must be at least 1");
  std::lock_guard lock(streamsMutex_);
  Group* g = HIVE_TRY(findGroup(stream, group));
  Stream& s = streams_.find(stream)->second;
  const std::string groupName(group);
  auto now = Clock::now();
  std::vector<ParsedId> idle;
  for (const auto& [id, p] : g->pending) {
    if (idle.size() >= count) break;
    if (now - p.lastDelivery >= minIdle) idle.push_back(id);
  }
  std::vector<bus::StreamMessage> out;
  for (ParsedId id : idle) {
    Pending& p = g->pending[id];
    if (g->options.maxDeliveries > 0 && p.deliveries >= g->options.maxDeliveries) {
      moveToDeadLetters(s, groupName, *g, id, deliveredReason(p.deliveries));
      continue;
    }
    const Entry* entry = findEntry(s, id);
    if (entry == nullptr) {  // deleted from the stream: nothing left to deliver
      g->pending.erase(id);
      continue;
    }
    p.consumer = std::string(consumer);
    p.lastDelivery = now;
    ++p.deliveries;
    out.push_back({std::string(stream), formatId(id), entry->payload, p.deliveries});
  }
  return out;
}

Status LocalBus::deadLetter(std::string_view stream, std::string_view group, std::string_view id,
                            std::string_view reason) {
  HIVE_TRY(checkStreamAndGroup(stream, group));
  HIVE_TRY(checkId(id));
  if (reason.size() > 4096) return invalidArgument("reason longer than 4096 characters");
  std::lock_guard lock(streamsMutex_);
  Group* g = HIVE_TRY(findGroup(stream, group));
  ParsedId parsed = parseId(id);
  if (g->pending.count(parsed) == 0)
    return notFound("message " + std::string(id) + " is not pending in group '" + std::string(group) + "'");
  moveToDeadLetters(streams_.find(stream)->second, std::string(group), *g, parsed, std::string(reason));
  return okStatus();
}

Result<std::vector<bus::DeadLetter>> LocalBus::deadLetters(std::string_view stream, std::string_view group,
                                                           std::size_t limit) {
  HIVE_TRY(checkStreamAndGroup(stream, group));
  std::lock_guard lock(streamsMutex_);
  std::vector<bus::DeadLetter> out;
  auto s = streams_.find(stream);
  if (s == streams_.end()) return out;
  for (const auto& d : s->second.dead) {
    if (out.size() >= limit) break;
    if (d.group == group) out.push_back(d.letter);
  }
  return out;
}

Result<std::size_t> LocalBus::replayDeadLetters(std::string_view stream, std::string_view group,
                                                const std::vector<std::string>& ids) {
  HIVE_TRY(checkStreamAndGroup(stream, group));
  for (const auto& id : ids) HIVE_TRY(checkId(id));
  std::size_t replayed = 0;
  {
    std::lock_guard lock(streamsMutex_);
    auto s = streams_.find(stream);
    if (s == streams_.end()) return replayed;
    auto& dead = s->second.dead;
    for (auto it = dead.begin(); it != dead.end();) {
      bool chosen = it->group == group &&
                    (ids.empty() || std::find(ids.begin(), ids.end(), it->letter.id) != ids.end());
      if (!chosen) {
        ++it;
        continue;
      }
      appendLocked(s->second, std::move(it->letter.payload));
      it = dead.erase(it);
      ++replayed;
    }
  }
  if (replayed > 0) appended_.notify_all();
  return replayed;
}

Result<std::size_t> LocalBus::trim(std::string_view stream, std::size_t maxLength) {
  HIVE_TRY(checkTopic(stream, "stream"));
  std::lock_guard lock(streamsMutex_);
  auto s = streams_.find(stream);
  if (s == streams_.end() || s->second.entries.size() <= maxLength) return std::size_t{0};
  auto& entries = s->second.entries;
  // Keep the newest maxLength, and everything from the oldest message a group
  // still needs: pending, or not yet delivered to it.
  std::size_t cut = entries.size() - maxLength;
  for (const auto& [name, g] : s->second.groups) {
    auto needed = g.pending.empty()
                      ? ParsedId{g.lastDelivered.milliseconds, g.lastDelivered.sequence + 1}
                      : std::min(g.pending.begin()->first,
                                 ParsedId{g.lastDelivered.milliseconds, g.lastDelivered.sequence + 1});
    auto it = std::lower_bound(entries.begin(), entries.end(), needed,
                               [](const Entry& e, ParsedId value) { return e.id < value; });
    cut = std::min(cut, static_cast<std::size_t>(it - entries.begin()));
  }
  entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(cut));
  return cut;
}

Status LocalBus::ping() { return okStatus(); }

}  // namespace hive::communication_engine
