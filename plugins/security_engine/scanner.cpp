#include "scanner.hpp"

#include <algorithm>

namespace hive::security_engine {
namespace {

constexpr auto kSyntax = std::regex::ECMAScript | std::regex::optimize;

bool validDetectorName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

}  // namespace

const std::vector<Detector>& builtInDetectors() {
  static const std::vector<Detector> kDetectors = {
      {"aws_access_key_id", "\\b(AKIA|ASIA)[0-9A-Z]{16}\\b"},
      {"github_token", "\\bgh[pousr]_[A-Za-z0-9]{36,255}\\b"},
      {"slack_token", "\\bxox[abprs]-[A-Za-z0-9-]{10,}"},
      {"google_api_key", "\\bAIza[0-9A-Za-z_-]{35}"},
      {"private_key", "-----BEGIN ([A-Z]+ )?PRIVATE KEY-----"},
      {"hive_api_key", "\\bhive_[0-9a-f]{16}_[0-9a-f]{64}\\b"},
      {"jwt", "\\beyJ[A-Za-z0-9_-]{8,}\\.eyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}"},
  };
  return kDetectors;
}

ScanSettings readScanSettings(const ConfigNode& node, Diagnostics& diagnostics) {
  ScanSettings settings;
  if (node.isNull()) return settings;
  ConfigReader reader(node, diagnostics);
  std::string mode = reader.get<std::string>("mode", "warn");
  if (mode == "off")
    settings.mode = ScanMode::kOff;
  else if (mode == "refuse")
    settings.mode = ScanMode::kRefuse;
  else if (mode != "warn")
    reader.reject("mode", "expected warn, refuse or off, got '" + mode + "'");
  settings.maxBytes = static_cast<std::size_t>(reader.getInRange<std::int64_t>(
      "max_bytes", static_cast<std::int64_t>(settings.maxBytes), 1024, 16 * 1024 * 1024));
  const ConfigNode& disabled = reader.child("disable");
  if (disabled.isSequence()) {
    for (const auto& item : disabled.items()) {
      auto found = std::find_if(settings.detectors.begin(), settings.detectors.end(),
                                [&](const Detector& d) { return d.name == item.text(); });
      if (found == settings.detectors.end())
        diagnostics.error(item.location(), "'disable': '" + item.text() + "' is not a built-in detector");
      else
        settings.detectors.erase(found);
    }
  } else if (!disabled.isNull()) {
    diagnostics.error(disabled.location(), "'disable': expected a list of detector names");
  }
  const ConfigNode& detectors = reader.child("detectors");
  if (detectors.isMap()) {
    for (const auto& entry : detectors.entries()) {
      if (!validDetectorName(entry.key)) {
        diagnostics.error(entry.keyLocation, "detector name '" + entry.key + "' must match [a-z0-9_]{1,64}");
        continue;
      }
      if (!entry.value.isScalar() || entry.value.text().empty()) {
        diagnostics.error(entry.value.location(),
                          "detector '" + entry.key + "': expected a regular expression");
        continue;
      }
      try {
        std::regex compiled(entry.value.text(), kSyntax);
      } catch (const std::regex_error& error) {
        diagnostics.error(
            entry.value.location(),
            "detector '" + entry.key + "': not a regular expression (ECMAScript): " + error.what());
        continue;
      }
      std::erase_if(settings.detectors, [&](const Detector& d) { return d.name == entry.key; });
      settings.detectors.push_back({entry.key, entry.value.text()});
    }
  } else if (!detectors.isNull()) {
    diagnostics.error(detectors.location(), "'detectors': expected a map of name to regular expression");
  }
  reader.finish();
  return settings;
}

Scanner::Scanner(const ScanSettings& settings) : mode_(settings.mode), maxBytes_(settings.maxBytes) {
  // Patterns were compiled once when the config was read: they compile.
  for (const auto& detector : settings.detectors)
    detectors_.push_back({detector.name, std::regex(detector.pattern, kSyntax)});
}

secrets::ScanResult Scanner::scan(std::string_view text) const {
  secrets::ScanResult result;
  if (mode_ == ScanMode::kOff || text.empty()) return result;
  text = text.substr(0, maxBytes_);
  for (const auto& detector : detectors_) {
    std::match_results<std::string_view::const_iterator> match;
    try {
      if (std::regex_search(text.begin(), text.end(), match, detector.pattern))
        result.findings.push_back({detector.name, static_cast<std::size_t>(match.position(0))});
    } catch (const std::regex_error&) {
      // The matcher gave up (complexity, stack): the text was not checked, which
      // the caller must treat as a finding rather than as clean.
      result.findings.push_back({detector.name + " (not checked)", 0});
    }
  }
  std::sort(result.findings.begin(), result.findings.end(),
            [](const auto& a, const auto& b) { return a.offset < b.offset; });
  result.refuse = mode_ == ScanMode::kRefuse && !result.findings.empty();
  return result;
}

}  // namespace hive::security_engine
