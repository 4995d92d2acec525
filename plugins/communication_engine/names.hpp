// Validation of the names and ids hive.bus/1 accepts, shared by both transports.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "hive/status.hpp"

namespace hive::communication_engine {

inline constexpr std::size_t kMaxNameLength = 200;

// Topics and stream names: dot-separated non-empty segments of [A-Za-z0-9_-:].
Status checkTopic(std::string_view topic, std::string_view what = "topic");
// Subscription and replay patterns: like topics, with '*' allowed anywhere.
Status checkPattern(std::string_view pattern);
// Group and consumer names: [A-Za-z0-9_-:.]+.
Status checkLabel(std::string_view label, std::string_view what);
// "<ms>-<seq>" or "<ms>".
bool isId(std::string_view id);
Status checkId(std::string_view id);

struct ParsedId {
  std::uint64_t milliseconds = 0;
  std::uint64_t sequence = 0;
  auto operator<=>(const ParsedId&) const = default;
};
ParsedId parseId(std::string_view id);  // precondition: isId(id)
std::string formatId(ParsedId id);

// Ids "<ms>-<seq>" from the wall clock, strictly increasing even when the clock
// steps back. Thread-safe.
class IdGenerator {
 public:
  std::string next();

 private:
  std::mutex mutex_;
  ParsedId last_;
};

std::int64_t nowMilliseconds();

}  // namespace hive::communication_engine
