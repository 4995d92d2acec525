// Detectors of token-like strings (cloud access keys, API tokens, private
// keys) in text that should hold none, such as request bodies: the scan() of
// hive.secrets/1. Regular expressions (ECMAScript), compiled once from the
// config; a finding names its detector and offset, never the matched text.
#pragma once

#include <cstddef>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "hive/config.hpp"
#include "hive/services/secrets.hpp"

namespace hive::security_engine {

enum class ScanMode { kOff, kWarn, kRefuse };

struct Detector {
  std::string name;
  std::string pattern;
};

// The detectors enabled without configuration.
const std::vector<Detector>& builtInDetectors();

struct ScanSettings {
  ScanMode mode = ScanMode::kWarn;
  std::size_t maxBytes = 64 * 1024;
  std::vector<Detector> detectors = builtInDetectors();
};

// Reads `scanning:`; a pattern that does not compile is an error at its line.
ScanSettings readScanSettings(const ConfigNode& node, Diagnostics& diagnostics);

class Scanner {
 public:
  explicit Scanner(const ScanSettings& settings);

  // Nothing when the mode is off.
  secrets::ScanResult scan(std::string_view text) const;

 private:
  struct Compiled {
    std::string name;
    std::regex pattern;
  };
  ScanMode mode_;
  std::size_t maxBytes_;
  std::vector<Compiled> detectors_;
};

}  // namespace hive::security_engine
