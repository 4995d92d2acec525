// When schedules fire: the cron subset, time zones (fixed offsets, and named
// zones from the system's tz database with their clock changes), intervals, and what a node does with fires
// that are due or were missed.
#include "schedule.hpp"

#include <chrono>
#include <map>

#include <gtest/gtest.h>

namespace hive::workflow_engine {
namespace {

namespace json = boost::json;
using namespace std::chrono;

// Milliseconds of a UTC date and time.
std::int64_t at(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  sys_days day = year_month_day{year{y}, month{mo}, std::chrono::day{d}};
  return duration_cast<milliseconds>(day.time_since_epoch() + hours{h} + minutes{mi}).count();
}

const TimeZone& zone(std::string_view name) {
  static std::map<std::string, std::shared_ptr<const TimeZone>, std::less<>> zones;
  auto found = zones.find(name);
  if (found == zones.end()) {
    auto loaded = TimeZone::load(name);
    EXPECT_TRUE(loaded.ok()) << name << ": " << loaded.status().message();
    found = zones.emplace(std::string(name), loaded.ok() ? *loaded : TimeZone::fixed(0)).first;
  }
  return *found->second;
}
const TimeZone& utc() { return zone("UTC"); }

CronExpression cron(std::string_view text) {
  auto parsed = CronExpression::parse(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.status().message();
  return std::move(parsed).value();
}

TEST(WorkflowCron, FieldsListsRangesAndStepsGiveTheNextFireTime) {
  EXPECT_EQ(cron("* * * * *").next(at(2026, 12, 5, 23, 30) + 10, utc()), at(2026, 12, 5, 23, 31));
  EXPECT_EQ(cron("*/15 * * * *").next(at(2026, 12, 5, 23, 30), utc()), at(2026, 12, 5, 23, 45));
  EXPECT_EQ(cron("0 9-17/4 * * *").next(at(2026, 12, 5, 13, 0), utc()), at(2026, 12, 5, 17, 0));
  EXPECT_EQ(cron("30 2 1,15 * *").next(at(2026, 12, 5), utc()), at(2026, 12, 15, 2, 30));
  EXPECT_EQ(cron("0 0 1 1 *").next(at(2026, 12, 5), utc()), at(2027, 1, 1));           // over the year's end
  EXPECT_EQ(cron("0 12 29 2 *").next(at(2026, 3, 1), utc()), at(2028, 2, 29, 12, 0));  // the next leap day
  // 2026-12-05 is a Saturday: Monday 0 and Sunday both as 0 and 7.
  EXPECT_EQ(cron("0 8 * * 1").next(at(2026, 12, 5), utc()), at(2026, 12, 7, 8, 0));
  EXPECT_EQ(cron("0 8 * * 7").next(at(2026, 12, 5), utc()), at(2026, 12, 6, 8, 0));
  EXPECT_EQ(cron("0 8 * * 0").next(at(2026, 12, 5), utc()), at(2026, 12, 6, 8, 0));
  // Both day fields restricted: either matches (the 10th, or a Monday first).
  EXPECT_EQ(cron("0 0 10 * 1").next(at(2026, 12, 5), utc()), at(2026, 12, 7));
  // Strictly after: a fire time itself gives the next one.
  EXPECT_EQ(cron("0 * * * *").next(at(2026, 12, 5, 10, 0), utc()), at(2026, 12, 5, 11, 0));
}

TEST(WorkflowCron, AFixedOffsetShiftsTheWallClock) {
  // 09:00 at +05:30 is 03:30 UTC; at -08:00 it is 17:00 UTC.
  EXPECT_EQ(cron("0 9 * * *").next(at(2026, 12, 5), zone("+05:30")), at(2026, 12, 5, 3, 30));
  EXPECT_EQ(cron("0 9 * * *").next(at(2026, 12, 5), zone("UTC-08:00")), at(2026, 12, 5, 17, 0));
  EXPECT_EQ(zone("UTC").offsetAt(0), 0);
  EXPECT_EQ(zone("Z").offsetAt(0), 0);
  EXPECT_EQ(zone("+05:30").offsetAt(0), 330 * 60);
  EXPECT_EQ(zone("UTC-08:00").offsetAt(0), -480 * 60);
  for (const char* bad :
       {"+5", "+15:00", "UTC+1", "../../etc/passwd", "/etc/localtime", "Europe//Paris", "No/Such_Zone"})
    EXPECT_FALSE(TimeZone::load(bad).ok()) << bad;
  EXPECT_NE(TimeZone::load("No/Such_Zone").status().message().find("no such time zone"), std::string::npos);
}

// Europe/Paris from the system's tz database: CET (+1) and CEST (+2), changing
// on the last Sundays of March (02:00 → 03:00) and October (03:00 → 02:00).
TEST(WorkflowCron, ANamedZoneFollowsItsClockChanges) {
  const TimeZone& paris = zone("Europe/Paris");
  EXPECT_EQ(paris.offsetAt(at(2027, 1, 15) / 1000), 3600);
  EXPECT_EQ(paris.offsetAt(at(2027, 7, 15) / 1000), 7200);
  // 09:00 every day is 08:00 UTC in winter, 07:00 UTC in summer.
  EXPECT_EQ(cron("0 9 * * *").next(at(2027, 3, 27, 12), paris), at(2027, 3, 28, 7, 0));
  EXPECT_EQ(cron("0 9 * * *").next(at(2027, 3, 26, 12), paris), at(2027, 3, 27, 8, 0));
  // 02:30 does not exist on 2027-03-28 (01:00 UTC jumps from 02:00 to 03:00
  // local): it fires at the change, once.
  EXPECT_EQ(cron("30 2 * * *").next(at(2027, 3, 27, 12), paris), at(2027, 3, 28, 1, 0));
  EXPECT_EQ(cron("30 2 * * *").next(at(2027, 3, 28, 1, 0), paris), at(2027, 3, 29, 0, 30));
  // 02:30 happens twice on 2027-10-31 (00:30 UTC in CEST, 01:30 UTC in CET):
  // it fires at the first one only.
  EXPECT_EQ(cron("30 2 * * *").next(at(2027, 10, 30, 12), paris), at(2027, 10, 31, 0, 30));
  EXPECT_EQ(cron("30 2 * * *").next(at(2027, 10, 31, 0, 30), paris), at(2027, 11, 1, 1, 30));
  // Every 30 minutes through the night the clocks go back: the repeated hour
  // (02:00-02:59 CET, 01:00-01:59 UTC) fires nothing a second time.
  std::vector<std::int64_t> fires;
  for (std::int64_t t = at(2027, 10, 30, 23, 45); fires.size() < 6;)
    fires.push_back(t = *cron("*/30 * * * *").next(t, paris));
  EXPECT_EQ(fires, (std::vector<std::int64_t>{at(2027, 10, 31, 0, 0), at(2027, 10, 31, 0, 30),
                                              at(2027, 10, 31, 2, 0), at(2027, 10, 31, 2, 30),
                                              at(2027, 10, 31, 3, 0), at(2027, 10, 31, 3, 30)}));
  // Beyond the transitions the file lists, the footer's rule: 2045-03-26 is
  // the last Sunday of March.
  EXPECT_EQ(cron("0 9 * * *").next(at(2045, 3, 25, 12), paris), at(2045, 3, 26, 7, 0));
  EXPECT_EQ(cron("0 9 * * *").next(at(2045, 3, 24, 12), paris), at(2045, 3, 25, 8, 0));
}

TEST(WorkflowCron, ZonesOfTheSouthAndOfHalfHours) {
  // Sydney: AEDT (+11) from the first Sunday of October to the first Sunday of April.
  const TimeZone& sydney = zone("Australia/Sydney");
  EXPECT_EQ(sydney.offsetAt(at(2027, 1, 15) / 1000), 11 * 3600);
  EXPECT_EQ(sydney.offsetAt(at(2027, 7, 15) / 1000), 10 * 3600);
  EXPECT_EQ(sydney.offsetAt(at(2046, 1, 15) / 1000), 11 * 3600);  // the footer's rule, across the year's end
  EXPECT_EQ(sydney.offsetAt(at(2046, 7, 15) / 1000), 10 * 3600);
  // Kolkata: +05:30 all year.
  EXPECT_EQ(cron("0 9 * * *").next(at(2027, 7, 1), zone("Asia/Kolkata")), at(2027, 7, 1, 3, 30));
  // New York, by the rule alone (EST5EDT: second Sunday of March, first of November, 02:00).
  auto newYork = PosixRule::parse("EST5EDT,M3.2.0,M11.1.0");
  ASSERT_TRUE(newYork.ok()) << newYork.status().message();
  EXPECT_EQ(newYork->offsetAt(at(2050, 3, 13, 6, 59) / 1000), -5 * 3600);
  EXPECT_EQ(newYork->offsetAt(at(2050, 3, 13, 7, 0) / 1000), -4 * 3600);
  EXPECT_EQ(*newYork->nextTransition(at(2050, 3, 1) / 1000), at(2050, 3, 13, 7, 0) / 1000);
  EXPECT_EQ(*newYork->nextTransition(at(2050, 3, 13, 7, 0) / 1000), at(2050, 11, 6, 6, 0) / 1000);
  for (const char* bad :
       {"", "E5", "EST", "EST5EDT,M13.1.0,M11.1.0", "EST5EDT,M3.2.0", "EST5EDT,M3.2.0,M11.1.0x"})
    EXPECT_FALSE(PosixRule::parse(bad).ok()) << bad;
}

TEST(WorkflowCron, BadExpressionsNameTheField) {
  auto message = [](std::string_view text) { return CronExpression::parse(text).status().message(); };
  EXPECT_EQ(message("* * * *"),
            "a cron expression has 5 fields (minute hour day-of-month month day-of-week), not 4");
  EXPECT_EQ(message("0 24 * * *"), "field 2 (hour): 24 is out of 0-23");
  EXPECT_EQ(message("0 0 0 * *"), "field 3 (day-of-month): 0 is out of 1-31");
  EXPECT_EQ(message("*/0 * * * *"), "field 1 (minute): '0' is not a step from 1 to 59");
  EXPECT_EQ(message("0 0 * JAN *"), "field 4 (month): 'JAN' is not a number, a range or *");
  EXPECT_EQ(message("5-1 * * * *"), "field 1 (minute): the range 5-1 is backwards");
  EXPECT_EQ(message("1,,2 * * * *"), "field 1 (minute): an empty item in a list");
}

TEST(WorkflowCron, IntervalsAreParsedAndBounded) {
  EXPECT_EQ(*parseInterval("90s"), seconds(90));
  EXPECT_EQ(*parseInterval("1h30m"), minutes(90));
  EXPECT_EQ(*parseInterval("2d"), hours(48));
  EXPECT_FALSE(parseInterval("500ms").ok());  // under 1 s
  EXPECT_FALSE(parseInterval("5 minutes").ok());
  EXPECT_FALSE(parseInterval("").ok());
}

ScheduleSpec spec(std::string_view text) {
  std::vector<http::FieldError> errors;
  auto parsed = parseSchedule(json::parse(text), "", errors);
  EXPECT_TRUE(parsed.has_value()) << (errors.empty() ? "" : errors[0].field + ": " + errors[0].message);
  return parsed.value_or(ScheduleSpec{});
}

TEST(WorkflowSchedule, SpecsAreCheckedWhole) {
  std::vector<http::FieldError> errors;
  EXPECT_FALSE(parseSchedule(json::parse(R"({"cron": "0 25 * * *", "every": "1m", "catch_up": "all",
      "time_zone": "Mars/Olympus", "version": 0, "params": [], "x": 1})"),
                             "/schedules/0", errors));
  std::vector<std::string> fields;
  for (const auto& error : errors) fields.push_back(error.field);
  EXPECT_EQ(fields, (std::vector<std::string>{"/schedules/0/x", "/schedules/0", "/schedules/0/time_zone",
                                              "/schedules/0/params", "/schedules/0/version",
                                              "/schedules/0/catch_up"}));
  errors.clear();
  EXPECT_FALSE(parseSchedule(json::parse(R"({"cron": "0 0 31 2 *"})"), "", errors));
  EXPECT_EQ(errors.at(0).message, "'0 0 31 2 *' never fires (no such day)");
  // What toJson writes parses back to the same.
  ScheduleSpec every = spec(R"({"every": "10s", "catch_up": "once", "params": {"a": 1}})");
  EXPECT_EQ(json::value(spec(json::serialize(every.toJson())).toJson()), json::value(every.toJson()));
}

TEST(WorkflowSchedule, FiresOnTimeRunAndMissedOnesFollowTheCatchUpPolicy) {
  const std::int64_t anchor = at(2026, 12, 5, 12, 0);
  ScheduleSpec skip = spec(R"({"every": "10s"})");
  EXPECT_EQ(nextFire(skip, anchor, anchor), anchor + 10'000);
  EXPECT_EQ(nextFire(skip, anchor, anchor + 25'000), anchor + 30'000);
  // On time: the due fire and any other within the grace period.
  FirePlan plan = planFires(skip, anchor, anchor + 10'000, anchor + 21'000, 60'000, 100);
  EXPECT_EQ(plan.fires, (std::vector<std::int64_t>{anchor + 10'000, anchor + 20'000}));
  EXPECT_FALSE(plan.missed);
  EXPECT_EQ(plan.nextFireMs, anchor + 30'000);
  // Down for an hour, grace 60 s: skip runs only the fires of the last minute.
  const std::int64_t later = anchor + 3'600'000 + 5'000;
  plan = planFires(skip, anchor, anchor + 10'000, later, 60'000, 100);
  EXPECT_TRUE(plan.missed);
  EXPECT_EQ(plan.fires.size(), 6u);
  EXPECT_EQ(plan.fires.front(), later - 55'000);
  EXPECT_EQ(plan.nextFireMs, later + 5'000);
  // once: one more run for everything missed, keyed by the first missed fire.
  ScheduleSpec once = spec(R"({"every": "10s", "catch_up": "once"})");
  plan = planFires(once, anchor, anchor + 10'000, later, 60'000, 100);
  EXPECT_EQ(plan.fires.size(), 7u);
  EXPECT_EQ(plan.fires.front(), anchor + 10'000);
  // A daily cron missed by two days: skip runs nothing, once runs one.
  ScheduleSpec daily = spec(R"({"cron": "0 3 * * *"})");
  plan = planFires(daily, 0, at(2026, 12, 3, 3), at(2026, 12, 5, 12), 60'000, 100);
  EXPECT_TRUE(plan.fires.empty());
  EXPECT_EQ(plan.nextFireMs, at(2026, 12, 6, 3));
  ScheduleSpec dailyOnce = spec(R"({"cron": "0 3 * * *", "catch_up": "once"})");
  plan = planFires(dailyOnce, 0, at(2026, 12, 3, 3), at(2026, 12, 5, 12), 60'000, 100);
  EXPECT_EQ(plan.fires, (std::vector<std::int64_t>{at(2026, 12, 3, 3)}));
}

}  // namespace
}  // namespace hive::workflow_engine
