#include "names.hpp"

#include <chrono>

namespace hive::communication_engine {

bool isId(std::string_view id) {
  std::size_t i = 0;
  std::size_t digits = 0;
  for (; i < id.size() && id[i] >= '0' && id[i] <= '9'; ++i) ++digits;
  if (digits == 0 || digits > 19) return false;
  if (i == id.size()) return true;
  if (id[i++] != '-') return false;
  digits = 0;
  for (; i < id.size() && id[i] >= '0' && id[i] <= '9'; ++i) ++digits;
  return digits > 0 && digits <= 19 && i == id.size();
}

Status checkId(std::string_view id) {
  if (!isId(id)) return invalidArgument("'" + std::string(id.substr(0, 64)) + "' is not an id <ms>-<seq>");
  return okStatus();
}

ParsedId parseId(std::string_view id) {
  ParsedId parsed;
  std::size_t i = 0;
  for (; i < id.size() && id[i] != '-'; ++i) parsed.milliseconds = parsed.milliseconds * 10 + (id[i] - '0');
  for (++i; i < id.size(); ++i) parsed.sequence = parsed.sequence * 10 + (id[i] - '0');
  return parsed;
}

std::string formatId(ParsedId id) {
  return std::to_string(id.milliseconds) + "-" + std::to_string(id.sequence);
}

std::int64_t nowMilliseconds() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string IdGenerator::next() {
  auto now = static_cast<std::uint64_t>(nowMilliseconds());
  std::lock_guard lock(mutex_);
  if (now > last_.milliseconds) {
    last_ = {now, 0};
  } else {
    ++last_.sequence;
  }
  return formatId(last_);
}

}  // namespace hive::communication_engine
