// The ids hive.bus/1 hands out, and the name checks, shared by both transports.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "hive/services/bus_names.hpp"
#include "hive/status.hpp"

namespace hive::communication_engine {

// Topics, patterns, group and consumer names: the SDK's one check of the contract.
using bus::checkLabel;
using bus::checkPattern;
using bus::checkTopic;
using bus::kMaxNameLength;
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
