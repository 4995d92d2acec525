#include "cron.hpp"

#include <charconv>
#include <vector>

namespace hive::workflow_engine {

namespace {

struct FieldSpec {
  const char* name;
  int low;
  int high;
};

constexpr FieldSpec kFields[] = {
    {"minute", 0, 59}, {"hour", 0, 23}, {"day-of-month", 1, 31}, {"month", 1, 12}, {"day-of-week", 0, 7}};

std::optional<int> number(std::string_view text) {
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// Sets the bits of one field; "field N (name): problem" on error.
Status parseField(std::string_view text, std::size_t index, std::vector<bool>& bits) {
  const FieldSpec& spec = kFields[index];
  const std::string where = "field " + std::to_string(index + 1) + " (" + spec.name + "): ";
  bits.assign(spec.high + 1, false);
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    std::string_view part =
        text.substr(start, comma == std::string_view::npos ? text.size() - start : comma - start);
    start = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    if (part.empty()) return invalidArgument(where + "an empty item in a list");
    int step = 1;
    if (std::size_t slash = part.find('/'); slash != std::string_view::npos) {
      auto parsed = number(part.substr(slash + 1));
      if (!parsed || *parsed < 1 || *parsed > spec.high)
        return invalidArgument(where + "'" + std::string(part.substr(slash + 1)) +
                               "' is not a step from 1 to " + std::to_string(spec.high));
      step = *parsed;
      part = part.substr(0, slash);
    }
    int low = spec.low, high = spec.high;
    if (part != "*") {
      std::size_t dash = part.find('-');
      auto first = number(part.substr(0, dash));
      if (!first) return invalidArgument(where + "'" + std::string(part) + "' is not a number, a range or *");
      low = *first;
      if (dash != std::string_view::npos) {
        auto last = number(part.substr(dash + 1));
        if (!last) return invalidArgument(where + "'" + std::string(part) + "' is not a range N-M");
        high = *last;
      } else if (step == 1) {
        high = low;  // a single value; N/S means from N to the end
      }
      for (int value : {low, high})
        if (value < spec.low || value > spec.high)
          return invalidArgument(where + std::to_string(value) + " is out of " + std::to_string(spec.low) +
                                 "-" + std::to_string(spec.high));
      if (low > high) return invalidArgument(where + "the range " + std::string(part) + " is backwards");
    }
    for (int value = low; value <= high; value += step) bits[value] = true;
  }
  return okStatus();
}

}  // namespace

Result<CronExpression> CronExpression::parse(std::string_view text) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  if (fields.size() != 5)
    return invalidArgument(
        "a cron expression has 5 fields (minute hour day-of-month month day-of-week), not " +
        std::to_string(fields.size()));
  CronExpression cron;
  cron.text_ = std::string(text);
  std::vector<bool> bits;
  for (std::size_t f = 0; f < 5; ++f) {
    HIVE_TRY(parseField(fields[f], f, bits));
    for (std::size_t v = 0; v < bits.size(); ++v) {
      if (!bits[v]) continue;
      switch (f) {
        case 0: cron.minutes_.set(v); break;
        case 1: cron.hours_.set(v); break;
        case 2: cron.days_.set(v); break;
        case 3: cron.months_.set(v); break;
        case 4: cron.weekdays_.set(v % 7); break;
      }
    }
  }
  cron.anyDay_ = fields[2] == "*";
  cron.anyWeekday_ = fields[4] == "*";
  return cron;
}

std::optional<std::int64_t> CronExpression::nextLocalMinute(std::int64_t fromMinute) const {
  using namespace std::chrono;
  sys_days day = floor<days>(sys_time<minutes>{minutes{fromMinute}});
  int firstMinute =
      static_cast<int>(fromMinute - static_cast<std::int64_t>(day.time_since_epoch().count()) * 1440);
  for (int count = 0; count < 366 * 5; ++count, day += days{1}, firstMinute = 0) {
    year_month_day date{day};
    if (!months_.test(static_cast<unsigned>(date.month()))) continue;
    bool dayMatch = days_.test(static_cast<unsigned>(date.day()));
    bool weekdayMatch = weekdays_.test(weekday{day}.c_encoding());
    bool matches = anyDay_ && anyWeekday_ ? true
                   : anyDay_              ? weekdayMatch
                   : anyWeekday_          ? dayMatch
                                          : dayMatch || weekdayMatch;
    if (!matches) continue;
    for (int m = firstMinute; m < 1440; ++m)
      if (hours_.test(m / 60) && minutes_.test(m % 60))
        return static_cast<std::int64_t>(day.time_since_epoch().count()) * 1440 + m;
  }
  return std::nullopt;
}

std::optional<std::int64_t> CronExpression::next(std::int64_t afterMs, const TimeZone& zone) const {
  using namespace std::chrono;
  std::int64_t afterSeconds = floor<seconds>(milliseconds{afterMs}).count();
  // Wall-clock times from a little before `afterMs` (the clocks may have gone
  // back since): the first whose instant is after it.
  std::int64_t minute = floor<minutes>(seconds{zone.toLocal(afterSeconds) - 3 * 3600}).count();
  for (int tries = 0; tries < 1000; ++tries) {
    auto local = nextLocalMinute(minute);
    if (!local) return std::nullopt;
    std::int64_t at = zone.firstInstant(*local * 60) * 1000;
    if (at > afterMs) return at;
    minute = *local + 1;
  }
  return std::nullopt;
}

Result<std::chrono::milliseconds> parseInterval(std::string_view text) {
  std::int64_t total = 0;
  std::size_t i = 0;
  if (text.empty()) return invalidArgument("an interval is like 30s, 5m, 1h30m or 2d");
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    auto value = number(text.substr(start, i - start));
    std::size_t unitStart = i;
    while (i < text.size() && text[i] >= 'a' && text[i] <= 'z') ++i;
    std::string_view unit = text.substr(unitStart, i - unitStart);
    std::int64_t scale = unit == "ms"  ? 1
                         : unit == "s" ? 1000
                         : unit == "m" ? 60'000
                         : unit == "h" ? 3'600'000
                         : unit == "d" ? 86'400'000
                                       : 0;
    if (!value || scale == 0 || *value > 1'000'000)
      return invalidArgument("'" + std::string(text) + "': an interval is like 30s, 5m, 1h30m or 2d");
    total += *value * scale;
  }
  if (total < 1000 || total > 366LL * 86'400'000)
    return invalidArgument("'" + std::string(text) + "': an interval is from 1s to 366d");
  return std::chrono::milliseconds(total);
}

}  // namespace hive::workflow_engine
