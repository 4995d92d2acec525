#include "config.hpp"

#include <sys/stat.h>

#include <charconv>
#include <fstream>
#include <iterator>

#include "api_key.hpp"

namespace hive::security_manager {
namespace {

void readRoles(const ConfigNode& node, Settings& settings, Diagnostics& diagnostics) {
  if (node.isNull()) return;
  if (!node.isMap()) {
    diagnostics.error(node.location(), "'roles': expected a map of role name to a list of permissions");
    return;
  }
  for (const auto& entry : node.entries()) {
    if (builtInRoles().count(entry.key) != 0) {
      diagnostics.error(entry.keyLocation, "role '" + entry.key + "' is built in and cannot be redefined");
      continue;
    }
    if (!validPermissionPattern(entry.key + ":x")) {
      diagnostics.error(entry.keyLocation, "role name '" + entry.key + "' must match [a-z][a-z0-9_]*");
      continue;
    }
    if (!entry.value.isSequence() || entry.value.items().empty()) {
      diagnostics.error(entry.value.location(),
                        "role '" + entry.key + "': expected a non-empty list of permissions");
      continue;
    }
    PermissionSet permissions;
    for (const auto& item : entry.value.items()) {
      if (!item.isScalar() || !validPermissionPattern(item.text()))
        diagnostics.error(item.location(), "role '" + entry.key + "': '" + item.text() +
                                               "' is not a permission (resource:action, resource:* or *)");
      else
        permissions.insert(item.text());
    }
    settings.roles.emplace(entry.key, std::move(permissions));
  }
}

// The pepper file holds 64 hex digits (32 bytes). It is a secret: a file
// others can read is refused rather than trusted.
void readPepper(const ConfigNode& node, const std::string& path, Settings& settings,
                Diagnostics& diagnostics) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    diagnostics.error(node.location(), "'pepper_file': cannot read " + path);
    return;
  }
  if ((info.st_mode & 077) != 0) {
    diagnostics.error(node.location(), "'pepper_file': " + path + " is readable by others; chmod 600 it");
    return;
  }
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  if (text.size() != kPepperBytes * 2 ||
      text.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
    diagnostics.error(node.location(), "'pepper_file': " + path + " must hold 64 hex digits (32 bytes)");
    return;
  }
  settings.pepper.resize(kPepperBytes);
  for (std::size_t i = 0; i < kPepperBytes; ++i)
    settings.pepper[i] = static_cast<char>(std::stoi(text.substr(i * 2, 2), nullptr, 16));
}

}  // namespace

Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics) {
  Settings settings;
  ConfigReader reader(section, diagnostics);
  readRoles(reader.child("roles"), settings, diagnostics);
  settings.refreshInterval = reader.getInRange<std::chrono::milliseconds>(
      "refresh_interval", settings.refreshInterval, std::chrono::milliseconds(100), std::chrono::hours(1));
  settings.maxKeys = static_cast<std::size_t>(
      reader.getInRange<std::int64_t>("max_keys", static_cast<std::int64_t>(settings.maxKeys), 1, 1'000'000));
  settings.auditMaxPending = static_cast<std::size_t>(reader.getInRange<std::int64_t>(
      "audit_max_pending", static_cast<std::int64_t>(settings.auditMaxPending), 1, 10'000'000));
  settings.auditFlushInterval =
      reader.getInRange<std::chrono::milliseconds>("audit_flush_interval", settings.auditFlushInterval,
                                                   std::chrono::milliseconds(10), std::chrono::minutes(1));
  settings.auditSync = reader.get<bool>("audit_sync", settings.auditSync);
  settings.auditSyncTimeout =
      reader.getInRange<std::chrono::milliseconds>("audit_sync_timeout", settings.auditSyncTimeout,
                                                   std::chrono::milliseconds(100), std::chrono::minutes(1));
  if (const ConfigNode& node = reader.child("audit_retention"); !node.isNull()) {
    if (!node.isMap()) {
      reader.reject("audit_retention", "expected a map (keep, batch, period)");
    } else {
      ConfigReader retention(node, diagnostics);
      Settings::AuditRetention& chosen = settings.auditRetention;
      using std::chrono::hours;
      if (!retention.child("keep").isNull())
        chosen.keep = retention.getInRange<std::chrono::milliseconds>("keep", hours(24 * 365), hours(1),
                                                                      hours(24 * 36500));
      chosen.batch = static_cast<std::size_t>(
          retention.getInRange<std::int64_t>("batch", static_cast<std::int64_t>(chosen.batch), 1, 10000));
      chosen.period = retention.getInRange<std::chrono::milliseconds>("period", chosen.period,
                                                                      std::chrono::seconds(1), hours(24));
      retention.finish();
    }
  }
  settings.jwt = readJwtSettings(reader.child("jwt"), diagnostics);
  settings.rateLimits = readRateLimits(reader.child("rate_limits"), diagnostics);
  std::string pepperFile = reader.get<std::string>("pepper_file", "");
  if (!pepperFile.empty()) readPepper(reader.child("pepper_file"), pepperFile, settings, diagnostics);
  reader.finish();
  return settings;
}

std::optional<std::chrono::milliseconds> parseLifetime(std::string_view text) {
  std::int64_t amount = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), amount);
  if (error != std::errc() || end == text.data() || amount <= 0) return std::nullopt;
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::int64_t factor = unit == "s"   ? 1000
                        : unit == "m" ? 60'000
                        : unit == "h" ? 3'600'000
                        : unit == "d" ? 86'400'000
                                      : 0;
  constexpr std::int64_t kLongestMs = std::int64_t{100} * 366 * 86'400'000;
  if (factor == 0 || amount > kLongestMs / factor) return std::nullopt;
  return std::chrono::milliseconds(amount * factor);
}

}  // namespace hive::security_manager
