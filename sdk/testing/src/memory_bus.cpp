#include "hive/testing/memory_bus.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "hive/callbacks.hpp"
#include "hive/services/bus_names.hpp"

namespace hive::testing {
namespace {

using Clock = std::chrono::steady_clock;

// "<ms>" or "<ms>-<seq>", up to 19 digits each.
std::optional<std::pair<std::uint64_t, std::uint64_t>> parseId(std::string_view id) {
  std::uint64_t parts[2] = {0, 0};
  std::size_t part = 0, digits = 0;
  for (char c : id) {
    if (c == '-' && part == 0 && digits > 0) {
      part = 1;
      digits = 0;
    } else if (c >= '0' && c <= '9' && digits < 19) {
      parts[part] = parts[part] * 10 + static_cast<std::uint64_t>(c - '0');
      ++digits;
    } else {
      return std::nullopt;
    }
  }
  if (digits == 0) return std::nullopt;
  return std::pair{parts[0], parts[1]};
}

Status checkId(std::string_view id) {
  if (parseId(id)) return okStatus();
  return invalidArgument("'" + std::string(id.substr(0, 64)) + "' is not an id <ms>-<seq>");
}

// Ids are "<ms>-<seq>"; this bus keys its messages by the pair.
using Number = std::pair<std::uint64_t, std::uint64_t>;

std::optional<Number> ownNumber(std::string_view id) { return parseId(id); }

std::string idOf(Number number) { return std::to_string(number.first) + "-" + std::to_string(number.second); }

std::int64_t wallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct MemoryBus::State {
  struct Delivery {
    std::string consumer;
    Clock::time_point at;
    std::uint32_t deliveries = 0;
  };
  struct Group {
    bus::GroupOptions options;
    Number lastDelivered{0, 0};
    std::map<Number, Delivery> pending;
    std::vector<bus::DeadLetter> dead;
  };
  struct Stream {
    std::map<Number, std::string> messages;
    std::map<std::string, Group, std::less<>> groups;
  };

  explicit State(Options o) : options(o) {}

  // Under `mutex`: the failure failNext() armed, if any is left.
  Status takeFailure() {
    if (failuresLeft == 0) return okStatus();
    --failuresLeft;
    return failure;
  }
  // Wall-clock milliseconds and a sequence, strictly increasing, as the real
  // providers' ids: a consumer that remembers the last id it saw keeps working
  // across a swap to a new bus.
  // A millisecond's sequence starts at its microsecond times 1000, so that a
  // bus made after another within the same millisecond still gives later ids.
  std::string nextId() {
    auto us = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
    Number now{us / 1000, (us % 1000) * 1000};
    lastNumber = now > lastNumber ? now : Number{lastNumber.first, lastNumber.second + 1};
    return idOf(lastNumber);
  }
  Result<Group*> group(std::string_view stream, std::string_view name) {
    auto found = streams.find(stream);
    if (found != streams.end()) {
      auto group = found->second.groups.find(name);
      if (group != found->second.groups.end()) return &group->second;
    }
    return Status(StatusCode::kNotFound,
                  "no group '" + std::string(name) + "' on stream '" + std::string(stream) + "'");
  }
  void deliver() {
    std::unique_lock lock(mutex);
    for (;;) {
      changed.wait(lock, [&] { return stopping || !queue.empty(); });
      if (stopping) return;
      bus::Event event = std::move(queue.front());
      queue.pop_front();
      delivering = true;
      lock.unlock();
      subscribers.fireWhere(
          [&](const std::string& pattern) { return bus::topicMatches(pattern, event.topic); }, event);
      lock.lock();
      delivering = false;
      changed.notify_all();
    }
  }

  const Options options;
  mutable std::mutex mutex;
  std::condition_variable changed;  // queue, delivery, stream messages or stop
  Number lastNumber{0, 0};
  Status failure;
  std::size_t failuresLeft = 0;

  std::deque<bus::Event> history;
  std::string newestEvicted;
  std::deque<bus::Event> queue;
  bool delivering = false;
  bool stopping = false;
  CallbackRegistry<const bus::Event&> subscribers;
  std::vector<std::string> callbackErrors;  // under `mutex`

  std::map<std::string, Stream, std::less<>> streams;
  std::thread thread;
};

MemoryBus::MemoryBus() : MemoryBus(Options{}) {}

MemoryBus::MemoryBus(Options options) : state_(std::make_unique<State>(options)) {
  State* state = state_.get();
  state->subscribers.onError([state](const std::string& pattern, const std::string& what) {
    std::lock_guard lock(state->mutex);
    state->callbackErrors.push_back(pattern + ": " + what);
  });
  state->thread = std::thread([state] { state->deliver(); });
}

MemoryBus::~MemoryBus() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->changed.notify_all();
  state_->thread.join();
}

bool MemoryBus::drain(std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mutex);
  return state_->changed.wait_for(lock, timeout,
                                  [&] { return state_->queue.empty() && !state_->delivering; });
}

std::vector<bus::Event> MemoryBus::published(std::string_view pattern) const {
  std::lock_guard lock(state_->mutex);
  std::vector<bus::Event> out;
  for (const auto& event : state_->history)
    if (bus::topicMatches(pattern, event.topic)) out.push_back(event);
  return out;
}

void MemoryBus::failNext(Status status, std::size_t calls) {
  std::lock_guard lock(state_->mutex);
  state_->failure = std::move(status);
  state_->failuresLeft = calls;
}

std::size_t MemoryBus::subscriptions() const { return state_->subscribers.size(); }

std::vector<std::string> MemoryBus::callbackErrors() const {
  std::lock_guard lock(state_->mutex);
  return state_->callbackErrors;
}

// ---- events

Result<std::string> MemoryBus::publish(std::string_view topic, std::string_view payload) {
  HIVE_TRY(bus::checkTopic(topic));
  std::lock_guard lock(state_->mutex);
  HIVE_TRY(state_->takeFailure());
  if (state_->queue.size() >= state_->options.queueBound)
    return Status(StatusCode::kResourceExhausted,
                  std::to_string(state_->queue.size()) + " events wait for delivery (queueBound)");
  bus::Event event{state_->nextId(), std::string(topic), std::string(payload), wallClockMs()};
  state_->queue.push_back(event);
  state_->history.push_back(event);
  while (state_->history.size() > state_->options.history) {
    state_->newestEvicted = std::move(state_->history.front().id);
    state_->history.pop_front();
  }
  state_->changed.notify_all();
  return std::move(event.id);
}

std::unique_ptr<Subscription> MemoryBus::subscribe(std::string pattern,
                                                   std::function<void(const bus::Event&)> callback) {
  if (!bus::checkPattern(pattern).ok() || !callback) return nullptr;
  return state_->subscribers.subscribe(std::move(callback), std::move(pattern));
}

Result<std::vector<bus::Event>> MemoryBus::replay(std::string_view pattern, std::string_view afterId,
                                                  std::size_t limit) {
  HIVE_TRY(bus::checkPattern(pattern));
  HIVE_TRY(checkId(afterId));
  std::lock_guard lock(state_->mutex);
  if (!state_->newestEvicted.empty() && bus::compareIds(afterId, state_->newestEvicted) < 0)
    return Status(StatusCode::kOutOfRange, "events after " + std::string(afterId) +
                                               " are no longer in the history (it keeps " +
                                               std::to_string(state_->options.history) + " events)");
  std::vector<bus::Event> out;
  for (const auto& event : state_->history) {
    if (out.size() >= limit) break;
    if (bus::compareIds(event.id, afterId) > 0 && bus::topicMatches(pattern, event.topic))
      out.push_back(event);
  }
  return out;
}

// ---- streams

Result<std::string> MemoryBus::append(std::string_view stream, std::string_view payload) {
  HIVE_TRY(bus::checkTopic(stream, "stream"));
  std::lock_guard lock(state_->mutex);
  HIVE_TRY(state_->takeFailure());
  std::string id = state_->nextId();
  state_->streams[std::string(stream)].messages.emplace(state_->lastNumber, std::string(payload));
  state_->changed.notify_all();
  return id;
}

Status MemoryBus::createGroup(std::string_view stream, std::string_view group, bus::GroupOptions options) {
  HIVE_TRY(bus::checkTopic(stream, "stream"));
  HIVE_TRY(bus::checkLabel(group, "group"));
  std::lock_guard lock(state_->mutex);
  auto& groups = state_->streams[std::string(stream)].groups;
  auto [it, created] = groups.try_emplace(std::string(group));
  it->second.options = options;
  if (created && !options.fromBeginning) it->second.lastDelivered = state_->lastNumber;
  return okStatus();
}

Result<std::vector<bus::StreamMessage>> MemoryBus::read(std::string_view stream, std::string_view group,
                                                        std::string_view consumer, std::size_t count,
                                                        std::chrono::milliseconds wait) {
  HIVE_TRY(bus::checkTopic(stream, "stream"));
  HIVE_TRY(bus::checkLabel(group, "group"));
  HIVE_TRY(bus::checkLabel(consumer, "consumer"));
  if (count == 0) return invalidArgument("count must be at least 1");
  std::unique_lock lock(state_->mutex);
  HIVE_TRY(state_->takeFailure());
  // Bounded, so that a huge wait cannot overflow the clock.
  auto deadline = Clock::now() + std::min(wait, std::chrono::milliseconds(std::chrono::hours(24)));
  for (;;) {
    State::Group* found = HIVE_TRY(state_->group(stream, group));
    auto& messages = state_->streams.find(stream)->second.messages;
    std::vector<bus::StreamMessage> out;
    for (auto it = messages.upper_bound(found->lastDelivered); it != messages.end() && out.size() < count;
         ++it) {
      found->lastDelivered = it->first;
      found->pending[it->first] = State::Delivery{std::string(consumer), Clock::now(), 1};
      out.push_back({std::string(stream), idOf(it->first), it->second, 1});
    }
    if (!out.empty() || Clock::now() >= deadline || state_->stopping) return out;
    state_->changed.wait_until(lock, deadline);
  }
}

Status MemoryBus::ack(std::string_view stream, std::string_view group, const std::vector<std::string>& ids) {
  for (const auto& id : ids) HIVE_TRY(checkId(id));
  std::lock_guard lock(state_->mutex);
  State::Group* found = HIVE_TRY(state_->group(stream, group));
  for (const auto& id : ids)
    if (auto number = ownNumber(id)) found->pending.erase(*number);
  return okStatus();
}

Result<std::vector<bus::PendingMessage>> MemoryBus::pending(std::string_view stream, std::string_view group,
                                                            std::size_t limit) {
  std::lock_guard lock(state_->mutex);
  State::Group* found = HIVE_TRY(state_->group(stream, group));
  std::vector<bus::PendingMessage> out;
  auto now = Clock::now();
  for (const auto& [number, delivery] : found->pending) {
    if (out.size() >= limit) break;
    out.push_back({idOf(number), delivery.consumer,
                   std::chrono::duration_cast<std::chrono::milliseconds>(now - delivery.at),
                   delivery.deliveries});
  }
  return out;
}

Result<std::vector<bus::StreamMessage>> MemoryBus::claimIdle(std::string_view stream, std::string_view group,
                                                             std::string_view consumer,
                                                             std::chrono::milliseconds minIdle,
                                                             std::size_t count) {
  HIVE_TRY(bus::checkLabel(consumer, "consumer"));
  std::lock_guard lock(state_->mutex);
  State::Group* found = HIVE_TRY(state_->group(stream, group));
  auto& messages = state_->streams.find(stream)->second.messages;
  auto now = Clock::now();
  std::vector<bus::StreamMessage> out;
  for (auto it = found->pending.begin(); it != found->pending.end() && out.size() < count;) {
    auto& [number, delivery] = *it;
    if (now - delivery.at < minIdle) {
      ++it;
      continue;
    }
    const std::string& payload = messages[number];
    const std::uint32_t limit = found->options.maxDeliveries;
    if (limit != 0 && delivery.deliveries >= limit) {
      found->dead.push_back({state_->nextId(), idOf(number), payload,
                             "delivered " + std::to_string(delivery.deliveries) + " times",
                             delivery.deliveries});
      it = found->pending.erase(it);
      continue;
    }
    delivery = State::Delivery{std::string(consumer), now, delivery.deliveries + 1};
    out.push_back({std::string(stream), idOf(number), payload, delivery.deliveries});
    ++it;
  }
  return out;
}

Status MemoryBus::deadLetter(std::string_view stream, std::string_view group, std::string_view id,
                             std::string_view reason) {
  HIVE_TRY(checkId(id));
  std::lock_guard lock(state_->mutex);
  State::Group* found = HIVE_TRY(state_->group(stream, group));
  auto number = ownNumber(id);
  auto pending = number ? found->pending.find(*number) : found->pending.end();
  if (pending == found->pending.end())
    return Status(StatusCode::kNotFound,
                  "message " + std::string(id) + " is not pending in '" + std::string(group) + "'");
  const std::string& payload = state_->streams.find(stream)->second.messages[*number];
  found->dead.push_back(
      {state_->nextId(), std::string(id), payload, std::string(reason), pending->second.deliveries});
  found->pending.erase(pending);
  return okStatus();
}

Result<std::vector<bus::DeadLetter>> MemoryBus::deadLetters(std::string_view stream, std::string_view group,
                                                            std::size_t limit) {
  std::lock_guard lock(state_->mutex);
  State::Group* found = HIVE_TRY(state_->group(stream, group));
  std::vector<bus::DeadLetter> out;
  for (const auto& letter : found->dead) {
    if (out.size() >= limit) break;
    out.push_back(letter);
  }
  return out;
}

Result<std::size_t> MemoryBus::replayDeadLetters(std::string_view stream, std::string_view group,
                                                 const std::vector<std::string>& ids) {
  for (const auto& id : ids) HIVE_TRY(checkId(id));
  std::lock_guard lock(state_->mutex);
  State::Group* found = HIVE_TRY(state_->group(stream, group));
  auto& messages = state_->streams.find(stream)->second.messages;
  std::size_t replayed = 0;
  for (auto it = found->dead.begin(); it != found->dead.end();) {
    bool chosen = ids.empty();
    for (const auto& id : ids) chosen |= id == it->id;
    if (!chosen) {
      ++it;
      continue;
    }
    state_->nextId();
    messages.emplace(state_->lastNumber, std::move(it->payload));
    it = found->dead.erase(it);
    ++replayed;
  }
  if (replayed != 0) state_->changed.notify_all();
  return replayed;
}

Result<std::size_t> MemoryBus::trim(std::string_view stream, std::size_t maxLength) {
  HIVE_TRY(bus::checkTopic(stream, "stream"));
  std::lock_guard lock(state_->mutex);
  auto found = state_->streams.find(stream);
  if (found == state_->streams.end()) return std::size_t{0};
  auto& messages = found->second.messages;
  std::optional<Number> oldestPending;
  for (const auto& [name, group] : found->second.groups)
    if (!group.pending.empty() && (!oldestPending || group.pending.begin()->first < *oldestPending))
      oldestPending = group.pending.begin()->first;
  std::size_t dropped = 0;
  while (messages.size() > maxLength && (!oldestPending || messages.begin()->first < *oldestPending)) {
    messages.erase(messages.begin());
    ++dropped;
  }
  return dropped;
}

Status MemoryBus::ping() {
  std::lock_guard lock(state_->mutex);
  return state_->takeFailure();
}

}  // namespace hive::testing
