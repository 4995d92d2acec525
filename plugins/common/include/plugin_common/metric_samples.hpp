// The samples of a Prometheus text exposition (what the kernel's metrics
// registry renders), read back in process: monitoring_engine's alert rules and
// resource_manager's admission control read the registry so.
#pragma once

#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace hive::plugin_common {

struct Sample {
  std::string name;  // the sample's own name: foo_total, bar_bucket, baz_count
  std::map<std::string, std::string> labels;
  double value = 0;
};

namespace detail {

inline bool parseValue(std::string_view text, double& out) {
  if (text == "+Inf") return out = std::numeric_limits<double>::infinity(), true;
  if (text == "-Inf") return out = -std::numeric_limits<double>::infinity(), true;
  if (text == "NaN") return out = std::numeric_limits<double>::quiet_NaN(), true;
  std::string copy(text);
  char* end = nullptr;
  out = std::strtod(copy.c_str(), &end);
  return end != copy.c_str() && *end == '\0';
}

// `{a="x",b="y\"z"}` starting at text[0] == '{'; returns the length read, 0 on error.
inline std::size_t parseLabels(std::string_view text, std::map<std::string, std::string>& labels) {
  std::size_t i = 1;
  while (i < text.size() && text[i] != '}') {
    std::size_t equals = text.find('=', i);
    if (equals == std::string_view::npos || equals + 1 >= text.size() || text[equals + 1] != '"') return 0;
    std::string name(text.substr(i, equals - i));
    std::string value;
    std::size_t j = equals + 2;
    for (; j < text.size() && text[j] != '"'; ++j) {
      if (text[j] == '\\' && j + 1 < text.size()) {
        ++j;
        value += text[j] == 'n' ? '\n' : text[j];
      } else {
        value += text[j];
      }
    }
    if (j >= text.size()) return 0;
    labels.emplace(std::move(name), std::move(value));
    i = j + 1;
    if (i < text.size() && text[i] == ',') ++i;
  }
  return i < text.size() ? i + 1 : 0;
}

}  // namespace detail

// Comment lines are skipped; a line that cannot be read is skipped too (the
// registry writes none).
inline std::vector<Sample> parseSamples(std::string_view text) {
  std::vector<Sample> out;
  while (!text.empty()) {
    std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    if (line.empty() || line.front() == '#') continue;
    Sample sample;
    std::size_t nameEnd = line.find_first_of("{ ");
    if (nameEnd == std::string_view::npos) continue;
    sample.name = std::string(line.substr(0, nameEnd));
    std::string_view rest = line.substr(nameEnd);
    if (rest.front() == '{') {
      std::size_t used = detail::parseLabels(rest, sample.labels);
      if (used == 0) continue;
      rest = rest.substr(used);
    }
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    std::size_t space = rest.find(' ');  // a timestamp may follow
    if (!detail::parseValue(rest.substr(0, space), sample.value)) continue;
    out.push_back(std::move(sample));
  }
  return out;
}

}  // namespace hive::plugin_common
