// The time zones schedules read cron times in: UTC, a fixed offset, or a named
// zone of the system's time zone database (TZif files, RFC 8536, under
// $TZDIR or /usr/share/zoneinfo), with its daylight saving time changes: the
// recorded transitions, then the POSIX TZ rule of the file's footer for the
// years after them. Pure once loaded: times in and out are seconds since the
// Unix epoch; nothing here reads a clock.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hive/status.hpp"

namespace hive::workflow_engine {

// A POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3"): a standard offset and,
// optionally, a daylight saving offset with the yearly dates it starts and
// ends. Offsets here are seconds east of UTC (POSIX writes them west).
class PosixRule {
 public:
  static Result<PosixRule> parse(std::string_view text);

  std::int32_t offsetAt(std::int64_t utc) const;
  std::optional<std::int64_t> nextTransition(std::int64_t utc) const;

 private:
  // A rule date: Mm.w.d (month, week 1-5 with 5 = last, weekday 0 = Sunday),
  // Jn (day 1-365, February 29 never counted) or n (day 0-365), and the local
  // time of day it happens at (may be negative or past 24 h).
  struct Date {
    enum class Kind { kMonthWeekDay, kJulian1, kJulian0 } kind = Kind::kMonthWeekDay;
    int month = 0, week = 0, weekday = 0, day = 0;
    std::int32_t time = 7200;
  };
  static std::int64_t dayOfYearStart(int year, const Date& date);
  // The instants DST starts and ends in `year`, in UTC.
  std::pair<std::int64_t, std::int64_t> changes(int year) const;

  std::int32_t standard_ = 0;
  std::optional<std::int32_t> daylight_;
  Date start_, end_;
};

class TimeZone {
 public:
  // "UTC" (also "", "Z", "GMT", "Etc/UTC"), a fixed offset ("+05:30",
  // "UTC-08:00"), or a zone name ("Europe/Paris"); kInvalidArgument with why.
  // Named zones are read once per process and name.
  static Result<std::shared_ptr<const TimeZone>> load(std::string_view name);
  // `offset` seconds east of UTC, always.
  static std::shared_ptr<const TimeZone> fixed(std::int32_t offset);
  // A zone from TZif bytes (RFC 8536, version 2 or later).
  static Result<std::shared_ptr<const TimeZone>> fromTzif(std::string_view bytes);

  // Seconds east of UTC at `utc`.
  std::int32_t offsetAt(std::int64_t utc) const;
  // The first change of offset strictly after `utc`.
  std::optional<std::int64_t> nextTransition(std::int64_t utc) const;
  // When the wall-clock time `local` first happens: its first occurrence when
  // the clocks go back; when a change skips it (clocks go forward), the
  // instant of that change.
  std::int64_t firstInstant(std::int64_t local) const;
  std::int64_t toLocal(std::int64_t utc) const { return utc + offsetAt(utc); }

 private:
  std::vector<std::int64_t> transitions_;  // ascending
  std::vector<std::int32_t> offsets_;      // after each transition
  std::int32_t initial_ = 0;               // before the first one
  std::optional<PosixRule> rule_;          // after the last one
};

}  // namespace hive::workflow_engine
