#include "exposition.hpp"

#include <cstdlib>
#include <vector>

namespace hive::monitoring_engine {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] + 32) : b[i];
    if (x != y) return false;
  }
  return true;
}

// q of one media range's parameters ("; q=0.5"), 1 when absent or unreadable.
double quality(std::string_view parameters) {
  while (!parameters.empty()) {
    std::size_t semicolon = parameters.find(';');
    std::string_view parameter = trim(parameters.substr(0, semicolon));
    parameters = semicolon == std::string_view::npos ? std::string_view{} : parameters.substr(semicolon + 1);
    if (parameter.size() > 2 && (parameter[0] == 'q' || parameter[0] == 'Q') && parameter[1] == '=') {
      std::string value(parameter.substr(2));
      char* end = nullptr;
      double q = std::strtod(value.c_str(), &end);
      if (end != value.c_str() && *end == '\0' && q >= 0 && q <= 1) return q;
    }
  }
  return 1;
}

// A 0.0.4 HELP text (escapes \\ and \n) as OpenMetrics wants it (also \").
std::string reescapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '"') out += '\\';
    out += c;
  }
  return out;
}

std::string_view sampleName(std::string_view line) {
  std::size_t end = line.find_first_of("{ ");
  return line.substr(0, end);
}

}  // namespace

ExpositionFormat negotiate(const std::string* accept) {
  if (accept == nullptr) return ExpositionFormat::kPrometheusText;
  std::string_view ranges = *accept;
  while (!ranges.empty()) {
    std::size_t comma = ranges.find(',');
    std::string_view range = ranges.substr(0, comma);
    ranges = comma == std::string_view::npos ? std::string_view{} : ranges.substr(comma + 1);
    std::size_t semicolon = range.find(';');
    std::string_view type = trim(range.substr(0, semicolon));
    std::string_view parameters =
        semicolon == std::string_view::npos ? std::string_view{} : range.substr(semicolon + 1);
    if (equalsIgnoringCase(type, "application/openmetrics-text") && quality(parameters) > 0)
      return ExpositionFormat::kOpenMetrics;
  }
  return ExpositionFormat::kPrometheusText;
}

std::string toOpenMetrics(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8 + 16);
  // The current family when it is a counter: its registered name and the
  // OpenMetrics family name (without _total).
  std::string counterName;
  std::string counterFamily;
  // HELP comes before TYPE in the input; OpenMetrics needs the family name,
  // which depends on the TYPE, so HELP waits for it.
  std::string pendingHelpName;
  std::string pendingHelp;
  bool hasPendingHelp = false;

  while (!text.empty()) {
    std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    if (line.empty()) continue;

    if (line.starts_with("# HELP ")) {
      std::string_view rest = line.substr(7);
      std::size_t space = rest.find(' ');
      pendingHelpName = std::string(rest.substr(0, space));
      pendingHelp = space == std::string_view::npos ? std::string() : reescapeHelp(rest.substr(space + 1));
      hasPendingHelp = true;
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      std::string_view rest = line.substr(7);
      std::size_t space = rest.find(' ');
      std::string name(rest.substr(0, space));
      std::string_view kind = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
      std::string family = name;
      counterName.clear();
      counterFamily.clear();
      if (kind == "counter") {
        if (family.size() > 6 && family.ends_with("_total")) family.resize(family.size() - 6);
        counterName = name;
        counterFamily = family;
      }
      out += "# TYPE " + family + ' ' + std::string(kind) + '\n';
      if (hasPendingHelp && pendingHelpName == name) out += "# HELP " + family + ' ' + pendingHelp + '\n';
      hasPendingHelp = false;
      continue;
    }
    if (line.front() == '#') {
      out += line;
      out += '\n';
      continue;
    }
    if (!counterName.empty() && sampleName(line) == counterName) {
      out += counterFamily;
      out += "_total";
      out += line.substr(counterName.size());
    } else {
      out += line;
    }
    out += '\n';
  }
  out += "# EOF\n";
  return out;
}

}  // namespace hive::monitoring_engine
