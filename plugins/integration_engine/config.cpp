#include "config.hpp"

#include <sys/stat.h>

#include <charconv>
#include <fstream>
#include <iterator>
#include <set>

#include "plugin_common/http_url.hpp"

namespace hive::integration_engine {

namespace json = boost::json;

namespace {

// A secret file must be private to hive's user: a world-readable secret is
// as good as published.
std::string readSecretFile(const ConfigNode& node, const std::string& path, Diagnostics& diagnostics) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    diagnostics.error(node.location(), "cannot read " + path);
    return {};
  }
  if ((info.st_mode & 077) != 0) {
    diagnostics.error(node.location(), path + " is readable by others; chmod 600 it");
    return {};
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!bytes.empty() && (bytes.back() == '\n' || bytes.back() == '\r')) bytes.pop_back();
  return bytes;
}

bool validName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
  return name.front() >= 'a' && name.front() <= 'z';
}

InboundEndpoint readEndpoint(const ConfigNode& node, Diagnostics& diagnostics) {
  ConfigReader reader(node, diagnostics);
  InboundEndpoint endpoint;
  endpoint.name = reader.require<std::string>("name");
  if (!endpoint.name.empty() && !validName(endpoint.name))
    reader.reject("name", "must match [a-z][a-z0-9_-]* (at most 64 characters)");
  std::string scheme = reader.get<std::string>("scheme", "generic");
  if (scheme == "github")
    endpoint.scheme = SignatureScheme::kGithub;
  else if (scheme != "generic")
    reader.reject("scheme", "must be generic or github");
  std::string secretFile = reader.get<std::string>("secret_file", "");
  std::string secret = reader.get<std::string>("secret", "");
  if (!secretFile.empty() && !secret.empty())
    reader.reject("secret", "give secret or secret_file, not both");
  else if (!secretFile.empty())
    endpoint.secret = readSecretFile(reader.child("secret_file"), secretFile, diagnostics);
  else if (!secret.empty())
    endpoint.secret = secret;
  else
    diagnostics.error(node.location(), "webhook '" + endpoint.name + "' needs a secret or a secret_file");
  if ((!secret.empty() || !secretFile.empty()) && !endpoint.secret.empty() && endpoint.secret.size() < 16)
    reader.reject(secretFile.empty() ? "secret" : "secret_file", "the secret must be at least 16 bytes");
  endpoint.tolerance =
      std::chrono::duration_cast<std::chrono::seconds>(reader.getInRange<std::chrono::milliseconds>(
          "tolerance", std::chrono::minutes(5), std::chrono::seconds(1), std::chrono::hours(24)));
  endpoint.maxBodyBytes = static_cast<std::size_t>(
      reader.getInRange<std::int64_t>("max_body_bytes", 1024 * 1024, 1, 16 * 1024 * 1024));
  endpoint.workflow = reader.get<std::string>("workflow", "");
  endpoint.tenant = reader.get<std::string>("tenant", "");
  if (!endpoint.tenant.empty() &&
      (endpoint.tenant.size() > 64 ||
       endpoint.tenant.find_first_not_of(
           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != std::string::npos))
    reader.reject("tenant", "must be 1-64 of [A-Za-z0-9._-]");
  const ConfigNode& task = reader.child("task");
  if (!task.isNull()) {
    json::value body = toJson(task);
    if (!body.is_object() || !body.as_object().contains("type"))
      reader.reject("task", "must be a task body with at least a type");
    else
      endpoint.task = body.as_object();
  }
  if (endpoint.workflow.empty() == endpoint.task.empty())
    diagnostics.error(node.location(),
                      "webhook '" + endpoint.name + "' needs exactly one of workflow or task");
  const ConfigNode& map = reader.child("map");
  if (!map.isNull() && !map.isMap()) reader.reject("map", "must map names to JSON pointers");
  if (map.isMap()) {
    for (const auto& entry : map.entries()) {
      if (!entry.value.isScalar() || (!entry.value.text().empty() && entry.value.text().front() != '/')) {
        diagnostics.error(entry.value.location(),
                          "'map." + entry.key + "': must be a JSON pointer (/a/b) or \"\"");
        continue;
      }
      endpoint.map.emplace_back(entry.key, entry.value.text());
    }
  }
  reader.finish();
  return endpoint;
}

OutboundOptions readOutbound(const ConfigNode& node, Diagnostics& diagnostics) {
  ConfigReader reader(node, diagnostics);
  OutboundOptions options;
  using std::chrono::milliseconds;
  options.allowPrivateTargets = reader.get<bool>("allow_private_targets", false);
  options.maxAttempts =
      static_cast<std::uint32_t>(reader.getInRange<std::int64_t>("max_attempts", 8, 1, 100));
  options.backoffBase = reader.getInRange<milliseconds>("backoff_base", options.backoffBase, milliseconds(10),
                                                        std::chrono::hours(1));
  options.backoffMax = reader.getInRange<milliseconds>("backoff_max", options.backoffMax, milliseconds(10),
                                                       std::chrono::hours(24));
  if (options.backoffMax < options.backoffBase) reader.reject("backoff_max", "must be at least backoff_base");
  options.timeout =
      reader.getInRange<milliseconds>("timeout", options.timeout, milliseconds(100), std::chrono::minutes(5));
  options.threads = static_cast<std::size_t>(reader.getInRange<std::int64_t>("threads", 2, 1, 64));
  options.concurrencyPerTarget =
      static_cast<std::size_t>(reader.getInRange<std::int64_t>("concurrency_per_target", 2, 1, 64));
  options.maxSubscriptions =
      static_cast<std::size_t>(reader.getInRange<std::int64_t>("max_subscriptions", 100, 1, 10000));
  options.maxEventBytes = static_cast<std::size_t>(
      reader.getInRange<std::int64_t>("max_event_bytes", 256 * 1024, 1024, 16 * 1024 * 1024));
  options.pollPeriod = reader.getInRange<milliseconds>("poll_period", options.pollPeriod, milliseconds(10),
                                                       std::chrono::minutes(1));
  options.refreshPeriod = reader.getInRange<milliseconds>("subscription_refresh", options.refreshPeriod,
                                                          milliseconds(100), std::chrono::hours(1));
  options.caFile = plugin_common::readCaFile(reader);
  std::string keyFile = reader.get<std::string>("signing_key_file", "");
  if (!keyFile.empty()) {
    options.signingKey = readSecretFile(reader.child("signing_key_file"), keyFile, diagnostics);
    if (!options.signingKey.empty() && options.signingKey.size() < 32)
      reader.reject("signing_key_file", "the key must be at least 32 bytes");
  }
  reader.finish();
  return options;
}

}  // namespace

json::value toJson(const ConfigNode& node) {
  if (node.isMap()) {
    json::object object;
    for (const auto& entry : node.entries()) object[entry.key] = toJson(entry.value);
    return object;
  }
  if (node.isSequence()) {
    json::array array;
    for (const auto& item : node.items()) array.push_back(toJson(item));
    return array;
  }
  if (node.isNull()) return nullptr;
  const std::string& text = node.text();
  if (text == "true") return true;
  if (text == "false") return false;
  std::int64_t integer = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), integer);
  if (!text.empty() && ec == std::errc() && end == text.data() + text.size()) return integer;
  double number = 0;
  auto [dend, dec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (!text.empty() && dec == std::errc() && dend == text.data() + text.size()) return number;
  return json::string(text);
}

Settings readConfig(const ConfigNode& section, Diagnostics& diagnostics) {
  ConfigReader reader(section, diagnostics);
  Settings settings;
  const ConfigNode& webhooks = reader.child("webhooks");
  if (!webhooks.isNull() && !webhooks.isSequence()) reader.reject("webhooks", "must be a list of webhooks");
  std::set<std::string> names;
  if (webhooks.isSequence()) {
    for (const ConfigNode& item : webhooks.items()) {
      InboundEndpoint endpoint = readEndpoint(item, diagnostics);
      if (!endpoint.name.empty() && !names.insert(endpoint.name).second)
        diagnostics.error(item.location(), "webhook '" + endpoint.name + "' is defined twice");
      settings.inbound.push_back(std::move(endpoint));
    }
  }
  settings.outbound = readOutbound(reader.child("outbound"), diagnostics);
  reader.finish();
  return settings;
}

}  // namespace hive::integration_engine
