// hive.bus/1 — events and durable messages. Provided by communication_engine
// (transport local or redis); providers pass hive/testing/bus_conformance.hpp.
//
// Two kinds of traffic:
//  - events: publish/subscribe fan-out for live updates (topics like
//    "tasks.42"). Each event gets an id, and a bounded history can be replayed
//    from an id, so a WebSocket client can resume where it left off.
//  - streams: durable, at-least-once delivery to consumer groups, with
//    acknowledgement, takeover of messages whose consumer died, and a
//    dead-letter stream after too many deliveries.
//
// Calls that talk to a server block; call them from the blocking executor.
// publish() never blocks for long: while the server is away it buffers up to a
// bound, then fails with kResourceExhausted. Nothing is dropped silently.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hive/services.hpp"
#include "hive/status.hpp"

namespace hive::bus {

// Topics: dot-separated segments of [A-Za-z0-9_-:]. Patterns: "tasks.*" ("*"
// matches any run of characters, dots included), "tasks.42", "*"; see topicMatches().

// Event and stream ids: "<milliseconds>-<sequence>", ordered by compareIds.
struct Event {
  std::string id;
  std::string topic;
  std::string payload;
  std::int64_t timestampMs = 0;
};

struct StreamMessage {
  std::string stream;
  std::string id;
  std::string payload;
  std::uint32_t deliveries = 0;  // times delivered to this group, this one included
};

struct PendingMessage {
  std::string id;
  std::string consumer;
  std::chrono::milliseconds idle{0};
  std::uint32_t deliveries = 0;
};

struct DeadLetter {
  std::string id;          // id in the dead-letter stream
  std::string originalId;  // id it had in its stream
  std::string payload;
  std::string reason;  // "delivered 5 times", or the reason given to deadLetter()
  std::uint32_t deliveries = 0;
};

struct GroupOptions {
  // Messages delivered this many times without an ack move to the dead-letter
  // stream on the next claimIdle() (0 = never).
  std::uint32_t maxDeliveries = 5;
  bool fromBeginning = true;  // false: only messages appended after creation
};

class Bus : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.bus", 1};

  // ---- events ----
  // Returns the event's id.
  virtual Result<std::string> publish(std::string_view topic, std::string_view payload) = 0;
  // `callback` runs on a provider thread, in publish order per publisher, never
  // concurrently for one subscription. Destroying the subscription stops it.
  [[nodiscard]] virtual std::unique_ptr<Subscription> subscribe(
      std::string pattern, std::function<void(const Event&)> callback) = 0;
  // Events matching `pattern` with id > afterId from the bounded history, oldest
  // first. kOutOfRange when afterId is older than the history keeps (the caller
  // must resynchronise another way).
  virtual Result<std::vector<Event>> replay(std::string_view pattern, std::string_view afterId,
                                            std::size_t limit = 1000) = 0;

  // ---- durable streams ----
  virtual Result<std::string> append(std::string_view stream, std::string_view payload) = 0;
  // Idempotent: an existing group keeps its position and takes the new options.
  virtual Status createGroup(std::string_view stream, std::string_view group, GroupOptions options) = 0;
  // New messages for `consumer`, waiting up to `wait` when there are none.
  virtual Result<std::vector<StreamMessage>> read(std::string_view stream, std::string_view group,
                                                  std::string_view consumer, std::size_t count,
                                                  std::chrono::milliseconds wait) = 0;
  virtual Status ack(std::string_view stream, std::string_view group,
                     const std::vector<std::string>& ids) = 0;
  virtual Result<std::vector<PendingMessage>> pending(std::string_view stream, std::string_view group,
                                                      std::size_t limit = 1000) = 0;
  // Takes over messages idle for at least `minIdle` (their consumer died):
  // they are delivered to `consumer`. Messages past the group's maxDeliveries go
  // to the dead-letter stream instead and are acked.
  virtual Result<std::vector<StreamMessage>> claimIdle(std::string_view stream, std::string_view group,
                                                       std::string_view consumer,
                                                       std::chrono::milliseconds minIdle,
                                                       std::size_t count) = 0;
  // Moves one pending message to the dead-letter stream now, with a reason, and acks it.
  virtual Status deadLetter(std::string_view stream, std::string_view group, std::string_view id,
                            std::string_view reason) = 0;
  virtual Result<std::vector<DeadLetter>> deadLetters(std::string_view stream, std::string_view group,
                                                      std::size_t limit = 100) = 0;
  // Appends dead letters (all when `ids` is empty) back to their stream as new
  // messages and removes them from the dead-letter stream; returns how many.
  virtual Result<std::size_t> replayDeadLetters(std::string_view stream, std::string_view group,
                                                const std::vector<std::string>& ids) = 0;
  // Drops the oldest messages beyond `maxLength`, but never one still pending in
  // any group; returns how many were dropped.
  virtual Result<std::size_t> trim(std::string_view stream, std::size_t maxLength) = 0;

  // ---- health ----
  virtual Status ping() = 0;
};

// ---- inline helpers ----

inline bool topicMatches(std::string_view pattern, std::string_view topic) {
  // Glob with '*' only, iterative with one backtrack point.
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < topic.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == topic[t]) {
      ++p, ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// Orders "<ms>-<seq>" ids numerically; -1, 0, 1. A malformed id sorts first.
inline int compareIds(std::string_view a, std::string_view b) {
  auto parse = [](std::string_view id, std::uint64_t& ms, std::uint64_t& seq) {
    ms = seq = 0;
    std::size_t i = 0;
    bool any = false;
    for (; i < id.size() && id[i] >= '0' && id[i] <= '9'; ++i, any = true) ms = ms * 10 + (id[i] - '0');
    if (!any) return false;
    if (i == id.size()) return true;
    if (id[i++] != '-') return false;
    for (; i < id.size() && id[i] >= '0' && id[i] <= '9'; ++i) seq = seq * 10 + (id[i] - '0');
    return i == id.size();
  };
  std::uint64_t am, as, bm, bs;
  bool aok = parse(a, am, as), bok = parse(b, bm, bs);
  if (!aok || !bok) return aok == bok ? 0 : (aok ? 1 : -1);
  if (am != bm) return am < bm ? -1 : 1;
  if (as != bs) return as < bs ? -1 : 1;
  return 0;
}

}  // namespace hive::bus
