// When schedules fire: 5-field cron expressions, read in a time zone
// (time_zone.hpp), and fixed intervals. Pure: times in and out are
// milliseconds since the Unix epoch; nothing here reads a clock.
//
//   minute hour day-of-month month day-of-week
//   each field: *  or a list of  N | N-M | */S | N-M/S | N/S  separated by ','
//   minute 0-59, hour 0-23, day-of-month 1-31, month 1-12, day-of-week 0-7 (0 and 7: Sunday)
//
// As in Vixie cron, when both day-of-month and day-of-week are restricted (not
// `*`), a day matches when either does. Names (JAN, MON), `?`, `L`, `W`, `#`
// and the @-shortcuts are not part of the subset and are refused.
#pragma once

#include <bitset>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "hive/status.hpp"
#include "time_zone.hpp"

namespace hive::workflow_engine {

class CronExpression {
 public:
  // kInvalidArgument "field 2 (hour): 24 is out of 0-23" and the like.
  static Result<CronExpression> parse(std::string_view text);

  // The first fire time strictly after `afterMs`, the fields read as wall-clock
  // time in `zone`; nullopt when none within five years (31 February). A
  // wall-clock time the clocks skip (spring forward) fires at the change; one
  // they repeat (fall back) fires once, at its first occurrence.
  std::optional<std::int64_t> next(std::int64_t afterMs, const TimeZone& zone) const;
  const std::string& text() const { return text_; }

 private:
  // The first matching wall-clock minute at or after `fromMinute` (minutes
  // since the epoch, local); nullopt when none within five years.
  std::optional<std::int64_t> nextLocalMinute(std::int64_t fromMinute) const;

  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1-31
  std::bitset<13> months_;   // 1-12
  std::bitset<7> weekdays_;  // 0-6, Sunday 0
  bool anyDay_ = true;       // day-of-month is *
  bool anyWeekday_ = true;   // day-of-week is *
  std::string text_;
};

// "90s", "5m", "1h30m", "2d", "500ms"; at least 1 s, at most 366 days.
Result<std::chrono::milliseconds> parseInterval(std::string_view text);

}  // namespace hive::workflow_engine
