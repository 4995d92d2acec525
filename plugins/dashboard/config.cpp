#include "config.hpp"

namespace hive::dashboard {

Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics) {
  ConfigReader reader(section, diagnostics);
  Settings settings;
  settings.serveRoot = reader.get<bool>("serve_root", settings.serveRoot);
  reader.finish();
  return settings;
}

}  // namespace hive::dashboard
