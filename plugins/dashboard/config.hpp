// The dashboard's `config:` section, read and validated once.
#pragma once

#include "hive/config.hpp"

namespace hive::dashboard {

struct Settings {
  // Also answer GET / with the app (the app always lives under /dashboard/).
  // Off when another plugin or a proxy owns the root.
  bool serveRoot = true;
};

// Reads `section`; every problem goes to `diagnostics` with its location.
Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics);

}  // namespace hive::dashboard
