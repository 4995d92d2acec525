// Configuration values as the kernel hands them to plugins.
//
// The kernel parses YAML; a plugin sees only ConfigNode, a plain tree of scalars,
// sequences and maps in which every node remembers where it was written
// (file:line:col), so that a plugin's validation error points at the exact spot.
// `${VAR}` expansion has already happened. Scalars stay text until a typed read.
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "hive/status.hpp"

namespace hive {

struct SourceLocation {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown

  // "file:line:col", or as much of it as is known.
  std::string toString() const {
    std::string out = file.empty() ? std::string("<config>") : file;
    if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
    return out;
  }
};

enum class Severity { kError, kWarning };

struct Diagnostic {
  SourceLocation location;
  Severity severity = Severity::kError;
  std::string message;

  // "file:line:col: error: message" — the format compilers use, so editors jump to it.
  std::string toString() const {
    return location.toString() + (severity == Severity::kError ? ": error: " : ": warning: ") + message;
  }
};

// Collects every problem found, not just the first.
class Diagnostics {
 public:
  void error(SourceLocation where, std::string message) {
    items_.push_back({std::move(where), Severity::kError, std::move(message)});
  }
  void warning(SourceLocation where, std::string message) {
    items_.push_back({std::move(where), Severity::kWarning, std::move(message)});
  }
  void append(const Diagnostics& other) {
    items_.insert(items_.end(), other.items_.begin(), other.items_.end());
  }
  bool hasErrors() const {
    return std::any_of(items_.begin(), items_.end(),
                       [](const Diagnostic& d) { return d.severity == Severity::kError; });
  }
  std::size_t errorCount() const {
    return static_cast<std::size_t>(std::count_if(
        items_.begin(), items_.end(), [](const Diagnostic& d) { return d.severity == Severity::kError; }));
  }
  const std::vector<Diagnostic>& items() const { return items_; }
  std::string toString() const {
    std::string out;
    for (const auto& d : items_) out += d.toString() + "\n";
    return out;
  }

 private:
  std::vector<Diagnostic> items_;
};

struct ConfigEntry;

class ConfigNode {
 public:
  enum class Kind { kNull, kScalar, kSequence, kMap };

  // Special members are defined below ConfigEntry, which must be complete first.
  ConfigNode();
  ~ConfigNode();
  ConfigNode(const ConfigNode&);
  ConfigNode(ConfigNode&&) noexcept;
  ConfigNode& operator=(const ConfigNode&);
  ConfigNode& operator=(ConfigNode&&) noexcept;

  static ConfigNode scalar(std::string text, SourceLocation where = {}) {
    ConfigNode n(Kind::kScalar, std::move(where));
    n.text_ = std::move(text);
    return n;
  }
  static ConfigNode sequence(SourceLocation where = {}) {
    return ConfigNode(Kind::kSequence, std::move(where));
  }
  static ConfigNode map(SourceLocation where = {}) { return ConfigNode(Kind::kMap, std::move(where)); }
  static ConfigNode null(SourceLocation where = {}) { return ConfigNode(Kind::kNull, std::move(where)); }

  Kind kind() const { return kind_; }
  bool isNull() const { return kind_ == Kind::kNull; }
  bool isScalar() const { return kind_ == Kind::kScalar; }
  bool isSequence() const { return kind_ == Kind::kSequence; }
  bool isMap() const { return kind_ == Kind::kMap; }
  const SourceLocation& location() const { return location_; }

  const std::string& text() const { return text_; }
  const std::vector<ConfigNode>& items() const { return items_; }
  inline const std::vector<ConfigEntry>& entries() const;
  inline const ConfigNode* find(std::string_view key) const;

  void push(ConfigNode item) { items_.push_back(std::move(item)); }
  inline void set(std::string key, ConfigNode value, SourceLocation keyLocation = {});

  // Typed reads of a scalar. Errors name what was expected; the caller adds the
  // location (ConfigReader does).
  template <typename T>
  Result<T> as() const;

 private:
  inline ConfigNode(Kind kind, SourceLocation where);

  Kind kind_ = Kind::kNull;
  SourceLocation location_;
  std::string text_;
  std::vector<ConfigNode> items_;
  std::vector<ConfigEntry> entries_;
};

struct ConfigEntry {
  std::string key;
  SourceLocation keyLocation;
  ConfigNode value;
};

inline ConfigNode::ConfigNode() = default;
inline ConfigNode::~ConfigNode() = default;
inline ConfigNode::ConfigNode(const ConfigNode&) = default;
inline ConfigNode::ConfigNode(ConfigNode&&) noexcept = default;
inline ConfigNode& ConfigNode::operator=(const ConfigNode&) = default;
inline ConfigNode& ConfigNode::operator=(ConfigNode&&) noexcept = default;
inline ConfigNode::ConfigNode(Kind kind, SourceLocation where) : kind_(kind), location_(std::move(where)) {}

inline const std::vector<ConfigEntry>& ConfigNode::entries() const { return entries_; }

inline const ConfigNode* ConfigNode::find(std::string_view key) const {
  for (const auto& e : entries_)
    if (e.key == key) return &e.value;
  return nullptr;
}

inline void ConfigNode::set(std::string key, ConfigNode value, SourceLocation keyLocation) {
  for (auto& e : entries_) {
    if (e.key == key) {
      e.value = std::move(value);
      return;
    }
  }
  entries_.push_back({std::move(key), std::move(keyLocation), std::move(value)});
}

namespace detail {
inline Status notA(std::string_view what, const std::string& text) {
  return invalidArgument("expected " + std::string(what) + ", got '" + text + "'");
}

// A range bound as an operator writes it (ConfigReader::getInRange).
inline std::string bound(std::int64_t value) { return std::to_string(value); }
inline std::string bound(int value) { return std::to_string(value); }
inline std::string bound(double value) {
  std::string text = std::to_string(value);
  text.erase(text.find_last_not_of('0') + 1);
  if (!text.empty() && text.back() == '.') text.pop_back();
  return text;
}
inline std::string bound(std::chrono::milliseconds value) {
  auto ms = value.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1'000 == 0) return std::to_string(ms / 1'000) + "s";
  return std::to_string(ms) + "ms";
}
}  // namespace detail

template <>
inline Result<std::string> ConfigNode::as<std::string>() const {
  if (!isScalar()) return invalidArgument("expected a string");
  return text_;
}

template <>
inline Result<bool> ConfigNode::as<bool>() const {
  if (isScalar() && text_ == "true") return true;
  if (isScalar() && text_ == "false") return false;
  return detail::notA("true or false", text_);
}

template <>
inline Result<std::int64_t> ConfigNode::as<std::int64_t>() const {
  std::int64_t value = 0;
  const char* end = text_.data() + text_.size();
  auto [ptr, ec] = std::from_chars(text_.data(), end, value);
  if (!isScalar() || text_.empty() || ec != std::errc() || ptr != end)
    return detail::notA("an integer", text_);
  return value;
}

template <>
inline Result<int> ConfigNode::as<int>() const {
  auto wide = as<std::int64_t>();
  if (!wide.ok()) return wide.status();
  if (*wide < INT32_MIN || *wide > INT32_MAX) return detail::notA("a 32-bit integer", text_);
  return static_cast<int>(*wide);
}

template <>
inline Result<double> ConfigNode::as<double>() const {
  double value = 0;
  const char* end = text_.data() + text_.size();
  auto [ptr, ec] = std::from_chars(text_.data(), end, value);
  if (!isScalar() || text_.empty() || ec != std::errc() || ptr != end) return detail::notA("a number", text_);
  return value;
}

// Durations are written with a unit: "250ms", "30s", "5m", "1h".
template <>
inline Result<std::chrono::milliseconds> ConfigNode::as<std::chrono::milliseconds>() const {
  static constexpr std::pair<std::string_view, std::int64_t> kUnits[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}};
  if (isScalar()) {
    std::int64_t amount = 0;
    const char* begin = text_.data();
    const char* end = begin + text_.size();
    auto [ptr, ec] = std::from_chars(begin, end, amount);
    std::string_view unit(ptr, static_cast<std::size_t>(end - ptr));
    if (ec == std::errc() && ptr != begin && amount >= 0) {
      for (const auto& [name, factor] : kUnits) {
        if (unit != name) continue;
        // Bounded so that no duration read here can overflow a clock: 100
        // years is beyond any setting, and far from the 292 of nanoseconds.
        constexpr std::int64_t kLongestMs = std::int64_t{100} * 366 * 24 * 3'600'000;
        if (amount > kLongestMs / factor) return detail::notA("a duration of at most 100 years", text_);
        return std::chrono::milliseconds(amount * factor);
      }
    }
  }
  return detail::notA("a duration such as 250ms, 30s, 5m or 1h", text_);
}

// Edit distance, for "did you mean" hints.
inline std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The closest candidate within a small distance, or "" when none is close.
inline std::string closestMatch(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t bestDistance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    std::size_t d = editDistance(word, c);
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return best;
}

// Reads one map section and reports, with locations, every bad value and every
// key nobody asked for ("unknown key 'prot' (did you mean 'port'?)").
//
//   ConfigReader reader(section, diagnostics);
//   int port = reader.get<int>("port", 8080);
//   auto ms  = reader.get<std::chrono::milliseconds>("timeout", 30s);
//   reader.finish();   // unknown keys become errors
class ConfigReader {
 public:
  ConfigReader(const ConfigNode& node, Diagnostics& diagnostics) : node_(node), diagnostics_(diagnostics) {
    if (!node.isMap() && !node.isNull()) diagnostics_.error(node.location(), "expected a map");
  }

  // The value at `key`, or `fallback` when absent; a bad value is reported and
  // `fallback` returned.
  template <typename T>
  T get(std::string_view key, T fallback) {
    const ConfigNode* value = lookup(key);
    if (value == nullptr || value->isNull()) return fallback;
    Result<T> parsed = value->as<T>();
    if (!parsed.ok()) {
      diagnostics_.error(value->location(), "'" + std::string(key) + "': " + parsed.status().message());
      return fallback;
    }
    return std::move(parsed).value();
  }

  // Like get(), and a value outside [low, high] is reported at its location
  // ("'key': must be between LOW and HIGH, got TEXT") and `fallback` returned
  // (SDK ABI 2.3). For int, std::int64_t, double and std::chrono::milliseconds;
  // durations are shown as 250ms, 30s, 5m or 1h.
  template <typename T>
  T getInRange(std::string_view key, T fallback, T low, T high) {
    const ConfigNode* value = lookup(key);
    if (value == nullptr || value->isNull()) return fallback;
    std::size_t errors = diagnostics_.errorCount();
    T got = get<T>(key, fallback);
    if (diagnostics_.errorCount() != errors) return fallback;
    if (got < low || got > high) {
      reject(key, "must be between " + detail::bound(low) + " and " + detail::bound(high) + ", got " +
                      value->text());
      return fallback;
    }
    return got;
  }

  // Like get(), but absence is an error too.
  template <typename T>
  T require(std::string_view key, T fallback = T{}) {
    const ConfigNode* value = lookup(key);
    if (value == nullptr || value->isNull()) {
      diagnostics_.error(node_.location(), "missing required key '" + std::string(key) + "'");
      return fallback;
    }
    return get<T>(key, std::move(fallback));
  }

  // A nested node (null node when absent); it counts as read.
  const ConfigNode& child(std::string_view key) {
    const ConfigNode* value = lookup(key);
    return value ? *value : null_;
  }

  bool has(std::string_view key) { return lookup(key) != nullptr; }

  // Reports a value that parsed but is out of bounds.
  void reject(std::string_view key, std::string message) {
    const ConfigNode* value = node_.find(key);
    diagnostics_.error(value ? value->location() : node_.location(),
                       "'" + std::string(key) + "': " + std::move(message));
  }

  // Every key present but never read is an unknown key.
  void finish() {
    std::vector<std::string> known(known_.begin(), known_.end());
    for (const auto& entry : node_.entries()) {
      if (known_.count(entry.key) != 0) continue;
      std::string hint = closestMatch(entry.key, known);
      diagnostics_.error(entry.keyLocation, "unknown key '" + entry.key + "'" +
                                                (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
    }
  }

  Diagnostics& diagnostics() { return diagnostics_; }

 private:
  const ConfigNode* lookup(std::string_view key) {
    known_.insert(std::string(key));
    return node_.find(key);
  }

  const ConfigNode& node_;
  Diagnostics& diagnostics_;
  std::set<std::string> known_;
  ConfigNode null_;
};

}  // namespace hive
