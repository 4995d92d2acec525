// The `security_engine:` config section, read and checked once.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "hive/config.hpp"
#include "master_key.hpp"
#include "scanner.hpp"

namespace hive::security_engine {

struct SecretsSettings {
  // The key new values are encrypted under; empty when no key is configured
  // (then the vault is off: no hive.secrets/1, its routes answer 503).
  MasterKey current;
  // Keys values may still be encrypted under, until `hive secrets rotate-key`
  // re-encrypted them under `current`.
  std::vector<MasterKey> previous;
  std::size_t maxValueBytes = 64 * 1024;
  std::size_t maxSecrets = 10000;
};

struct Settings {
  SecretsSettings secrets;
  ScanSettings scanning;
};

Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics);

}  // namespace hive::security_engine
