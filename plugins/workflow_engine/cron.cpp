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

std::optional<std::int64_t> CronExpression::next(std::int64_t afterMs, int offsetMinutes) const {
  using namespace std::chrono;
  constexpr std::int64_t kMinute = 60'000;
  // Local minutes since the epoch, the first whole minute after `afterMs`.
  std::int64_t local = afterMs + offsetMinutes * kMinute;
  std::int64_t minute = (local >= 0 ? local / kMinute : (local - kMinute + 1) / kMinute) + 1;
  sys_days day{days{minute >= 0 ? minute / 1440 : (minute - 1439) / 1440}};
  int fromMinute =
      static_cast<int>(minute - static_cast<std::int64_t>(day.time_since_epoch().count()) * 1440);
  for (int count = 0; count < 366 * 5; ++count, day += days{1}, fromMinute = 0) {
    year_month_day date{day};
    if (!months_.test(static_cast<unsigned>(date.month()))) continue;
    bool dayMatch = days_.test(static_cast<unsigned>(date.day()));
    bool weekdayMatch = weekdays_.test(weekday{day}.c_encoding());
    bool matches = anyDay_ && anyWeekday_ ? true
                   : anyDay_              ? weekdayMatch
                   : anyWeekday_          ? dayMatch
                                          : dayMatch || weekdayMatch;
    if (!matches) continue;
    for (int m = fromMinute; m < 1440; ++m) {
      if (!hours_.test(m / 60) || !minutes_.test(m % 60)) continue;
      std::int64_t localMs = (static_cast<std::int64_t>(day.time_since_epoch().count()) * 1440 + m) * kMinute;
      return localMs - offsetMinutes * kMinute;
    }
  }
  return std::nullopt;
}

Result<int> parseTimeZone(std::string_view text) {
  if (text.empty() || text == "UTC" || text == "Z" || text == "Etc/UTC" || text == "GMT") return 0;
  std::string_view offset = text.rfind("UTC", 0) == 0 ? text.substr(3) : text;
  auto refuse = [&] {
    return invalidArgument("'" + std::string(text) +
                           "': use UTC or a fixed offset (+05:30, UTC-08:00); named zones with daylight "
                           "saving time are not supported by this build");
  };
  if (offset.size() != 6 || (offset[0] != '+' && offset[0] != '-') || offset[3] != ':') return refuse();
  auto hours = number(offset.substr(1, 2));
  auto minutes = number(offset.substr(4, 2));
  if (!hours || !minutes || *hours > 14 || *minutes > 59) return refuse();
  int total = *hours * 60 + *minutes;
  return offset[0] == '-' ? -total : total;
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
