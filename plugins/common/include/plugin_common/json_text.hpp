// JSON kept as the client wrote it. Header-only, shared by in-tree plugins
// (not part of the SDK).
//
// Hive stores a task's payload, progress and result as the exact bytes it
// accepted and serves them back the same way: a parse and re-serialise would
// turn `1.0` into `1E0`, `1e400` into null and a 100-digit integer into a
// rounded double. What it accepts is therefore checked first: a number that a
// JSON reader could not hold exactly as an int64, a uint64 or a finite double
// is refused, naming its place (RFC 6901 pointer), instead of being changed.
//
// The functions below read text that a JSON parser has already accepted
// (boost::json::parse with a depth limit); on anything else they give up
// without reading out of bounds.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/parse.hpp>

namespace hive::plugin_common {

struct JsonNumberProblem {
  std::string pointer;  // "/payload/items/3"
  std::string reason;
};

namespace json_text_detail {

inline bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

inline std::size_t skipSpace(std::string_view text, std::size_t at) {
  while (at < text.size() && isSpace(text[at])) ++at;
  return at;
}

// `at` is on the opening quote; returns the index past the closing one.
inline std::size_t skipString(std::string_view text, std::size_t at) {
  for (++at; at < text.size(); ++at) {
    if (text[at] == '\\') {
      ++at;
    } else if (text[at] == '"') {
      return at + 1;
    }
  }
  return text.size();
}

// The key's characters with escapes decoded.
inline std::string decodeKey(std::string_view quoted) {
  if (quoted.find('\\') == std::string_view::npos) return std::string(quoted.substr(1, quoted.size() - 2));
  std::error_code ec;
  auto value = boost::json::parse(quoted, ec);
  return !ec && value.is_string() ? std::string(value.as_string()) : std::string();
}

inline std::string pointerToken(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

inline bool isDelimiter(char c) { return c == ',' || c == '}' || c == ']' || isSpace(c); }

// Digit strings of the same length compare as numbers.
inline bool digitsAbove(std::string_view digits, std::string_view limit) {
  return digits.size() > limit.size() || (digits.size() == limit.size() && digits > limit);
}

inline std::optional<std::string> numberProblem(std::string_view number) {
  bool negative = !number.empty() && number.front() == '-';
  bool integer = number.find_first_of(".eE") == std::string_view::npos;
  if (integer) {
    std::string_view digits = number.substr(negative ? 1 : 0);
    if (negative ? digitsAbove(digits, "9223372036854775808") : digitsAbove(digits, "18446744073709551615"))
      return "is an integer outside the 64-bit range (-2^63 to 2^64-1); send it as a string";
    return std::nullopt;
  }
  double value = 0;
  auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (error == std::errc::result_out_of_range || (error == std::errc() && !std::isfinite(value))) {
    // Which way it went out of range: the decimal exponent of the first significant digit.
    std::size_t exponentAt = number.find_first_of("eE");
    long long exponent = 0;
    if (exponentAt != std::string_view::npos) {
      std::string_view digits = number.substr(exponentAt + 1);
      if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
      if (std::from_chars(digits.data(), digits.data() + digits.size(), exponent).ec != std::errc())
        exponent = digits.front() == '-' ? -100000 : 100000;
    }
    if (exponent > 0) return "is beyond the range of a double (about 1.8e308); send it as a string";
    return "is too small for a double and would read back as 0; send it as a string";
  }
  if (error != std::errc()) return "is not a JSON number";
  // Boost.JSON 1.81, which the agent-facing code parses with, multiplies the
  // mantissa by 10^exponent: `0e309` becomes 0 * inf = NaN there (the
  // task_submission fuzz target found it). What it cannot read finitely is refused too.
  std::error_code parseError;
  boost::json::value parsed = boost::json::parse(number, parseError);
  if (!parseError && parsed.is_double() && !std::isfinite(parsed.as_double()))
    return "does not read back as a finite number (a zero with an exponent beyond 308?); write it plainly";
  return std::nullopt;
}

class Scanner {
 public:
  Scanner(std::string_view text, std::size_t maxProblems, std::vector<JsonNumberProblem>& problems)
      : text_(text), maxProblems_(maxProblems), problems_(problems) {}

  // Reads the value at `at` and returns the index past it (text.size() when malformed).
  std::size_t value(std::size_t at, std::string& pointer, int depth) {
    at = skipSpace(text_, at);
    if (at >= text_.size() || depth > 256) return text_.size();
    char c = text_[at];
    if (c == '"') return skipString(text_, at);
    if (c == '{' || c == '[') return container(at, pointer, depth);
    std::size_t end = at;
    while (end < text_.size() && !isDelimiter(text_[end])) ++end;
    if (c == '-' || (c >= '0' && c <= '9')) {
      if (auto problem = numberProblem(text_.substr(at, end - at));
          problem && problems_.size() < maxProblems_)
        problems_.push_back({pointer.empty() ? "/" : pointer, *problem});
    }
    return end;
  }

 private:
  std::size_t container(std::size_t at, std::string& pointer, int depth) {
    bool object = text_[at] == '{';
    char close = object ? '}' : ']';
    std::size_t length = pointer.size();
    at = skipSpace(text_, at + 1);
    for (std::size_t index = 0; at < text_.size() && text_[at] != close; ++index) {
      if (object) {
        if (text_[at] != '"') return text_.size();
        std::size_t keyEnd = skipString(text_, at);
        pointer += '/' + pointerToken(decodeKey(text_.substr(at, keyEnd - at)));
        at = skipSpace(text_, keyEnd);
        if (at >= text_.size() || text_[at] != ':') return text_.size();
        ++at;
      } else {
        pointer += '/' + std::to_string(index);
      }
      at = skipSpace(text_, value(at, pointer, depth + 1));
      pointer.resize(length);
      if (at < text_.size() && text_[at] == ',') at = skipSpace(text_, at + 1);
    }
    return at < text_.size() ? at + 1 : text_.size();
  }

  std::string_view text_;
  std::size_t maxProblems_;
  std::vector<JsonNumberProblem>& problems_;
};

}  // namespace json_text_detail

// The numbers in `text` (valid JSON) that would not read back as written,
// with `pointer` prefixed to each place; at most `maxProblems` of them.
inline std::vector<JsonNumberProblem> inexactNumbers(std::string_view text, const std::string& pointer,
                                                     std::size_t maxProblems = 10) {
  std::vector<JsonNumberProblem> problems;
  std::string at = pointer;
  json_text_detail::Scanner(text, maxProblems, problems).value(0, at, 0);
  return problems;
}

// The exact text of member `key` of the object `objectText` (valid JSON), the
// last one when a key repeats (as boost::json::parse keeps); nullopt when absent.
inline std::optional<std::string_view> rawMember(std::string_view objectText, std::string_view key) {
  using namespace json_text_detail;
  std::optional<std::string_view> found;
  std::vector<JsonNumberProblem> ignored;
  Scanner skipper(objectText, 0, ignored);
  std::size_t at = skipSpace(objectText, 0);
  if (at >= objectText.size() || objectText[at] != '{') return std::nullopt;
  at = skipSpace(objectText, at + 1);
  std::string pointer;
  while (at < objectText.size() && objectText[at] == '"') {
    std::size_t keyEnd = skipString(objectText, at);
    std::string name = decodeKey(objectText.substr(at, keyEnd - at));
    at = skipSpace(objectText, keyEnd);
    if (at >= objectText.size() || objectText[at] != ':') return std::nullopt;
    std::size_t start = skipSpace(objectText, at + 1);
    std::size_t end = skipper.value(start, pointer, 1);
    if (end > objectText.size() || start >= end) return std::nullopt;
    if (name == key) found = objectText.substr(start, end - start);
    at = skipSpace(objectText, end);
    if (at < objectText.size() && objectText[at] == ',') at = skipSpace(objectText, at + 1);
  }
  return found;
}

// `serializedObject` (a JSON object's text, e.g. from boost::json::serialize)
// with `members` (name, raw JSON text) added at its end. Names must not need
// escaping; an empty text stands for null.
inline std::string withRawMembers(std::string serializedObject,
                                  const std::vector<std::pair<std::string_view, std::string_view>>& members) {
  if (serializedObject.size() < 2 || serializedObject.back() != '}') return serializedObject;
  serializedObject.pop_back();
  bool first = serializedObject.size() == 1;
  for (const auto& [name, raw] : members) {
    if (!first) serializedObject += ',';
    first = false;
    serializedObject += '"';
    serializedObject += name;
    serializedObject += "\":";
    serializedObject += raw.empty() ? std::string_view("null") : raw;
  }
  serializedObject += '}';
  return serializedObject;
}

}  // namespace hive::plugin_common
