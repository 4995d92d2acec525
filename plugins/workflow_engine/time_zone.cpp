#include "time_zone.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>

namespace hive::workflow_engine {
namespace {

using namespace std::chrono;

constexpr std::int32_t kHour = 3600;
constexpr std::int32_t kMaxOffset = 26 * kHour;  // RFC 8536 allows up to ±25:59:59

int yearOf(std::int64_t utc) {
  return static_cast<int>(year_month_day{floor<days>(sys_seconds{seconds{utc}})}.year());
}

std::int64_t daysSinceEpoch(year_month_day date) { return sys_days{date}.time_since_epoch().count(); }

// A small cursor over the text of a POSIX TZ rule.
class RuleReader {
 public:
  explicit RuleReader(std::string_view text) : text_(text) {}
  bool done() const { return at_ == text_.size(); }
  bool take(char c) {
    if (done() || text_[at_] != c) return false;
    ++at_;
    return true;
  }
  bool peekDigitOrSign() const {
    return !done() &&
           (std::isdigit(static_cast<unsigned char>(text_[at_])) || text_[at_] == '+' || text_[at_] == '-');
  }
  // An abbreviation: 3 or more letters, or <anything but '>'> quoted.
  bool name() {
    if (take('<')) {
      std::size_t close = text_.find('>', at_);
      if (close == std::string_view::npos || close - at_ < 3) return false;
      at_ = close + 1;
      return true;
    }
    std::size_t start = at_;
    while (!done() && std::isalpha(static_cast<unsigned char>(text_[at_]))) ++at_;
    return at_ - start >= 3;
  }
  std::optional<int> number(int max) {
    std::size_t start = at_;
    int value = 0;
    while (!done() && std::isdigit(static_cast<unsigned char>(text_[at_])) && at_ - start < 3)
      value = value * 10 + (text_[at_++] - '0');
    if (at_ == start || value > max) return std::nullopt;
    return value;
  }
  // [+-]hh[:mm[:ss]] in seconds, hours up to `maxHours`.
  std::optional<std::int32_t> duration(int maxHours) {
    int sign = take('-') ? -1 : (take('+'), 1);
    auto hours = number(maxHours);
    if (!hours) return std::nullopt;
    std::int32_t total = *hours * kHour;
    for (int unit : {60, 1}) {
      if (!take(':')) break;
      auto part = number(59);
      if (!part) return std::nullopt;
      total += *part * unit;
    }
    return sign * total;
  }

 private:
  std::string_view text_;
  std::size_t at_ = 0;
};

std::int64_t readBig(std::string_view bytes, std::size_t at, std::size_t size) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < size; ++i) value = value << 8 | static_cast<unsigned char>(bytes[at + i]);
  if (size == 4) return static_cast<std::int32_t>(static_cast<std::uint32_t>(value));
  return static_cast<std::int64_t>(value);
}

Result<std::int32_t> fixedOffset(std::string_view text) {
  std::string_view offset = text.rfind("UTC", 0) == 0 ? text.substr(3) : text;
  auto digits = [](std::string_view two) -> std::optional<int> {
    if (two.size() != 2 || !std::isdigit(static_cast<unsigned char>(two[0])) ||
        !std::isdigit(static_cast<unsigned char>(two[1])))
      return std::nullopt;
    return (two[0] - '0') * 10 + (two[1] - '0');
  };
  if (offset.size() != 6 || (offset[0] != '+' && offset[0] != '-') || offset[3] != ':')
    return invalidArgument("not a fixed offset");
  auto hours = digits(offset.substr(1, 2));
  auto minutes = digits(offset.substr(4, 2));
  if (!hours || !minutes || *hours > 14 || *minutes > 59) return invalidArgument("not a fixed offset");
  std::int32_t total = (*hours * 60 + *minutes) * 60;
  return offset[0] == '-' ? -total : total;
}

bool plausibleZoneName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name.front() == '/' || name.back() == '/') return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '+' && c != '/')
      return false;
  return name.find("//") == std::string_view::npos;
}

}  // namespace

Result<PosixRule> PosixRule::parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return invalidArgument("time zone rule '" + std::string(text) + "': " + std::string(why));
  };
  RuleReader reader(text);
  PosixRule rule;
  if (!reader.name()) return bad("expected a zone abbreviation");
  auto west = reader.duration(24);
  if (!west) return bad("expected the offset from UTC");
  rule.standard_ = -*west;
  if (reader.done()) return rule;
  if (!reader.name()) return bad("expected the daylight saving abbreviation");
  rule.daylight_ = rule.standard_ + kHour;
  if (reader.peekDigitOrSign()) {
    auto daylightWest = reader.duration(24);
    if (!daylightWest) return bad("bad daylight saving offset");
    rule.daylight_ = -*daylightWest;
  }
  // Without dates: the US rule, as POSIX says implementations may assume.
  rule.start_ = {Date::Kind::kMonthWeekDay, 3, 2, 0, 0, 7200};
  rule.end_ = {Date::Kind::kMonthWeekDay, 11, 1, 0, 0, 7200};
  for (Date* date : {&rule.start_, &rule.end_}) {
    if (reader.done() && date == &rule.start_) return rule;
    if (!reader.take(',')) return bad("expected ,start,end");
    Date parsed;
    if (reader.take('M')) {
      auto month = reader.number(12);
      auto week = reader.take('.') ? reader.number(5) : std::nullopt;
      auto weekday = reader.take('.') ? reader.number(6) : std::nullopt;
      if (!month || *month < 1 || !week || *week < 1 || !weekday) return bad("bad Mm.w.d date");
      parsed = {Date::Kind::kMonthWeekDay, *month, *week, *weekday, 0, 7200};
    } else if (reader.take('J')) {
      auto day = reader.number(365);
      if (!day || *day < 1) return bad("bad Jn date");
      parsed = {Date::Kind::kJulian1, 0, 0, 0, *day, 7200};
    } else {
      auto day = reader.number(365);
      if (!day) return bad("bad date");
      parsed = {Date::Kind::kJulian0, 0, 0, 0, *day, 7200};
    }
    if (reader.take('/')) {
      auto time = reader.duration(167);  // RFC 8536 extends POSIX: -167 to 167 hours
      if (!time) return bad("bad time of day");
      parsed.time = *time;
    }
    *date = parsed;
  }
  if (!reader.done()) return bad("unexpected text at the end");
  return rule;
}

std::int64_t PosixRule::dayOfYearStart(int year, const Date& date) {
  const std::chrono::year y{year};
  switch (date.kind) {
    case Date::Kind::kJulian1: {
      int day = date.day - 1 + (y.is_leap() && date.day >= 60 ? 1 : 0);  // February 29 never counted
      return (daysSinceEpoch(y / January / 1) + day) * 86400;
    }
    case Date::Kind::kJulian0: return (daysSinceEpoch(y / January / 1) + date.day) * 86400;
    case Date::Kind::kMonthWeekDay: break;
  }
  const auto month = std::chrono::month{static_cast<unsigned>(date.month)};
  sys_days first{y / month / 1};
  unsigned firstWeekday = weekday{first}.c_encoding();
  int day = 1 + (date.weekday - static_cast<int>(firstWeekday) + 7) % 7 + (date.week - 1) * 7;
  int last = static_cast<int>(static_cast<unsigned>((y / month / std::chrono::last).day()));
  while (day > last) day -= 7;  // week 5: the last such weekday of the month
  return (first.time_since_epoch().count() + day - 1) * 86400;
}

std::pair<std::int64_t, std::int64_t> PosixRule::changes(int year) const {
  // The start is written in standard local time, the end in daylight local time.
  return {dayOfYearStart(year, start_) + start_.time - standard_,
          dayOfYearStart(year, end_) + end_.time - *daylight_};
}

std::int32_t PosixRule::offsetAt(std::int64_t utc) const {
  if (!daylight_) return standard_;
  auto [start, end] = changes(yearOf(utc));
  bool daylight = start < end ? utc >= start && utc < end : !(utc >= end && utc < start);
  return daylight ? *daylight_ : standard_;
}

std::optional<std::int64_t> PosixRule::nextTransition(std::int64_t utc) const {
  if (!daylight_ || *daylight_ == standard_) return std::nullopt;
  std::optional<std::int64_t> best;
  int year = yearOf(utc);
  for (int y = year - 1; y <= year + 1; ++y) {
    auto [start, end] = changes(y);
    for (std::int64_t at : {start, end})
      if (at > utc && (!best || at < *best)) best = at;
  }
  return best;
}

std::shared_ptr<const TimeZone> TimeZone::fixed(std::int32_t offset) {
  auto zone = std::make_shared<TimeZone>();
  zone->initial_ = offset;
  return zone;
}

Result<std::shared_ptr<const TimeZone>> TimeZone::fromTzif(std::string_view bytes) {
  auto bad = [](std::string why) { return invalidArgument("not a usable TZif file: " + why); };
  auto counts = [&](std::size_t at, std::array<std::int64_t, 6>& out) {
    if (bytes.size() < at + 44 || bytes.substr(at, 4) != "TZif") return false;
    for (std::size_t i = 0; i < 6; ++i) out[i] = readBig(bytes, at + 20 + 4 * i, 4);
    return std::all_of(out.begin(), out.end(), [](std::int64_t n) { return n >= 0 && n < 100000; });
  };
  std::array<std::int64_t, 6> c{};  // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
  if (!counts(0, c)) return bad("no TZif header");
  if (bytes[4] < '2') return bad("version 1 (no 64-bit data)");
  std::size_t at = 44 + c[3] * 4 + c[3] + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0];
  if (!counts(at, c)) return bad("no version 2 header");
  at += 44;
  const std::size_t timecnt = c[3], typecnt = c[4];
  const std::size_t dataSize = timecnt * 8 + timecnt + typecnt * 6 + c[5] + c[2] * 12 + c[1] + c[0];
  if (typecnt == 0 || bytes.size() < at + dataSize) return bad("truncated");
  auto zone = std::make_shared<TimeZone>();
  std::vector<std::int32_t> types(typecnt);
  const std::size_t typesAt = at + timecnt * 9;
  for (std::size_t i = 0; i < typecnt; ++i) {
    std::int64_t offset = readBig(bytes, typesAt + i * 6, 4);
    if (offset <= -kMaxOffset || offset >= kMaxOffset) return bad("an offset beyond 26 hours");
    types[i] = static_cast<std::int32_t>(offset);
  }
  zone->initial_ = types[0];
  for (std::size_t i = 0; i < timecnt; ++i) {
    std::int64_t when = readBig(bytes, at + i * 8, 8);
    auto index = static_cast<unsigned char>(bytes[at + timecnt * 8 + i]);
    if (index >= typecnt) return bad("a transition to a missing type");
    if (!zone->transitions_.empty() && when <= zone->transitions_.back())
      return bad("transitions out of order");
    zone->transitions_.push_back(when);
    zone->offsets_.push_back(types[index]);
  }
  std::size_t footer = at + dataSize;
  if (footer < bytes.size() && bytes[footer] == '\n') {
    std::size_t close = bytes.find('\n', footer + 1);
    if (close == std::string_view::npos) return bad("unterminated footer");
    std::string_view text = bytes.substr(footer + 1, close - footer - 1);
    if (!text.empty()) zone->rule_ = HIVE_TRY(PosixRule::parse(text));
  }
  return std::shared_ptr<const TimeZone>(std::move(zone));
}

Result<std::shared_ptr<const TimeZone>> TimeZone::load(std::string_view name) {
  if (name.empty() || name == "UTC" || name == "Z" || name == "GMT" || name == "Etc/UTC") return fixed(0);
  if (name.front() == '+' || name.front() == '-' || name.rfind("UTC", 0) == 0) {
    auto offset = fixedOffset(name);
    if (!offset.ok())
      return invalidArgument("'" + std::string(name) +
                             "': a fixed offset is +hh:mm or UTC-hh:mm, at most 14:00");
    return fixed(*offset);
  }
  if (!plausibleZoneName(name))
    return invalidArgument(
        "'" + std::string(name) +
        "': not a time zone name (UTC, a fixed offset like +05:30, or a name like Europe/Paris)");
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const TimeZone>, std::less<>> loaded;
  std::lock_guard lock(mutex);
  if (auto found = loaded.find(name); found != loaded.end()) return found->second;
  const char* directory = std::getenv("TZDIR");
  std::string path =
      std::string(directory != nullptr && *directory != '\0' ? directory : "/usr/share/zoneinfo") + "/" +
      std::string(name);
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return invalidArgument("'" + std::string(name) + "': no such time zone (looked for " + path +
                           "; is the tzdata package installed?)");
  std::string bytes;
  bytes.resize(1 << 20);
  file.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(static_cast<std::size_t>(file.gcount()));
  auto zone = fromTzif(bytes);
  if (!zone.ok())
    return invalidArgument("'" + std::string(name) + "': " + path + ": " + zone.status().message());
  loaded.emplace(std::string(name), *zone);
  return *zone;
}

std::int32_t TimeZone::offsetAt(std::int64_t utc) const {
  if (transitions_.empty() || utc >= transitions_.back()) {
    if (rule_) return rule_->offsetAt(utc);
    if (transitions_.empty()) return initial_;
    return offsets_.back();
  }
  auto after = std::upper_bound(transitions_.begin(), transitions_.end(), utc);
  if (after == transitions_.begin()) return initial_;
  return offsets_[static_cast<std::size_t>(std::distance(transitions_.begin(), after)) - 1];
}

std::optional<std::int64_t> TimeZone::nextTransition(std::int64_t utc) const {
  auto after = std::upper_bound(transitions_.begin(), transitions_.end(), utc);
  if (after != transitions_.end()) return *after;
  if (!rule_) return std::nullopt;
  return rule_->nextTransition(transitions_.empty() ? utc : std::max(utc, transitions_.back()));
}

std::int64_t TimeZone::firstInstant(std::int64_t local) const {
  // Walk the spans of constant offset from a day before: the first one in
  // which the wall clock reaches `local` gives the answer.
  std::int64_t from = local - kMaxOffset;
  for (int spans = 0; spans < 64; ++spans) {
    std::int64_t candidate = std::max(from, local - offsetAt(from));
    auto end = nextTransition(from);
    if (!end || candidate < *end) return candidate;
    from = *end;
  }
  return local - offsetAt(local);
}

}  // namespace hive::workflow_engine
