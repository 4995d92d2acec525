#include "config.hpp"

#include <charconv>
#include <filesystem>
#include <limits>

#include "tls.hpp"

namespace hive::api {
namespace {

// "host:port", "[v6]:port" or ":port" (host defaults to 127.0.0.1).
bool parseListen(const std::string& text, std::string& address, std::uint16_t& port, std::string& problem) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    problem = "expected HOST:PORT, got '" + text + "'";
    return false;
  }
  std::string host = text.substr(0, colon);
  std::string portText = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "127.0.0.1";
  unsigned value = 0;
  auto [end, error] = std::from_chars(portText.data(), portText.data() + portText.size(), value);
  if (error != std::errc() || end != portText.data() + portText.size() || value > 65535) {
    problem = "port must be a number from 0 to 65535, got '" + portText + "'";
    return false;
  }
  if (host == "localhost") host = "127.0.0.1";
  address = host;
  port = static_cast<std::uint16_t>(value);
  return true;
}

std::size_t readSize(ConfigReader& reader, const char* key, std::size_t fallback, std::int64_t minimum,
                     std::int64_t maximum) {
  return static_cast<std::size_t>(
      reader.getInRange<std::int64_t>(key, static_cast<std::int64_t>(fallback), minimum, maximum));
}

std::chrono::milliseconds readDuration(ConfigReader& reader, const char* key,
                                       std::chrono::milliseconds fallback) {
  return reader.getInRange(key, fallback, std::chrono::milliseconds(100),
                           std::chrono::milliseconds(std::chrono::hours(24)));
}

// A path relative to the file the key is written in.
std::string resolvePath(const std::string& path, const ConfigNode& node) {
  std::filesystem::path value(path);
  if (value.is_absolute() || node.location().file.empty()) return value.lexically_normal().string();
  std::error_code error;
  auto file = std::filesystem::absolute(node.location().file, error);
  return (file.parent_path() / value).lexically_normal().string();
}

void readTls(ConfigReader& reader, Settings& settings, Diagnostics& diagnostics) {
  const ConfigNode& node = reader.child("tls");
  ConfigReader tls(node, diagnostics);
  auto& t = settings.tls;
  auto path = [&](const char* key) {
    std::string value = tls.get<std::string>(key, "");
    return value.empty() ? value : resolvePath(value, tls.child(key));
  };
  t.certFile = path("cert_file");
  t.keyFile = path("key_file");
  t.clientCaFile = path("client_ca_file");
  t.minVersion = tls.get<std::string>("min_version", t.minVersion);
  t.ciphers = tls.get<std::string>("ciphers", t.ciphers);
  t.reloadInterval = readDuration(tls, "reload_interval", t.reloadInterval);
  std::size_t errors = diagnostics.errorCount();
  if (t.minVersion != "1.2" && t.minVersion != "1.3")
    tls.reject("min_version",
               "expected 1.2 or 1.3 (older versions are not offered), got '" + t.minVersion + "'");
  if (t.certFile.empty() != t.keyFile.empty())
    tls.reject(t.certFile.empty() ? "key_file" : "cert_file", "cert_file and key_file go together");
  if (!t.clientCaFile.empty() && t.certFile.empty())
    tls.reject("client_ca_file", "client certificates need a server certificate (cert_file, key_file)");
  // The files must load now: a bad certificate is a config error, not a
  // listener that fails every handshake. The error starts with the key at fault.
  if (t.enabled() && diagnostics.errorCount() == errors) {
    if (Status loaded = checkTls(t); !loaded.ok()) {
      const std::string& message = loaded.message();
      std::string key = message.substr(0, message.find_first_of(" :"));
      std::size_t rest = message.find_first_not_of(" :", key.size());
      if (tls.has(key))
        tls.reject(key, rest == std::string::npos ? message : message.substr(rest));
      else
        diagnostics.error(node.location(), "'tls': " + message);
    }
  }
  tls.finish();
}

}  // namespace

bool isLoopback(const std::string& address) {
  return address == "::1" || address == "localhost" || address.rfind("127.", 0) == 0;
}

Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics) {
  Settings settings;
  ConfigReader reader(section, diagnostics);
  std::string listen = reader.get<std::string>("listen", "127.0.0.1:8080");
  std::string problem;
  if (!parseListen(listen, settings.address, settings.port, problem)) reader.reject("listen", problem);
  bool perAddressDefault = false;

  {
    ConfigReader limits(reader.child("limits"), diagnostics);
    settings.headerBytes = readSize(limits, "header_bytes", settings.headerBytes, 1024, 1 << 20);
    settings.targetBytes = readSize(limits, "target_bytes", settings.targetBytes, 256, 1 << 20);
    settings.headerCount = readSize(limits, "header_count", settings.headerCount, 8, 1000);
    settings.bodyBytes = readSize(limits, "body_bytes", settings.bodyBytes, 0, std::int64_t(1) << 32);
    settings.headerTimeout = readDuration(limits, "header_timeout", settings.headerTimeout);
    settings.bodyTimeout = readDuration(limits, "body_timeout", settings.bodyTimeout);
    settings.idleTimeout = readDuration(limits, "idle_timeout", settings.idleTimeout);
    settings.maxConnections = readSize(limits, "max_connections", settings.maxConnections, 1, 1'000'000);
    if (limits.has("max_connections_per_address"))
      settings.maxConnectionsPerAddress =
          readSize(limits, "max_connections_per_address", settings.maxConnectionsPerAddress, 1, 2'000'000);
    else
      perAddressDefault = true;
    limits.finish();
  }
  {
    ConfigReader ws(reader.child("websocket"), diagnostics);
    auto& w = settings.webSocket;
    w.messageBytes = readSize(ws, "message_bytes", w.messageBytes, 128, 64 << 20);
    w.subscriptions = readSize(ws, "max_subscriptions", w.subscriptions, 1, 10'000);
    w.messagesPerSecond =
        static_cast<std::uint32_t>(readSize(ws, "messages_per_second", w.messagesPerSecond, 1, 100'000));
    w.routeMessagesPerSecond = static_cast<std::uint32_t>(
        readSize(ws, "route_messages_per_second", w.routeMessagesPerSecond, 1, 1'000'000));
    w.sendQueue = readSize(ws, "send_queue", w.sendQueue, 1, 1'000'000);
    w.routeMessageBytes = readSize(ws, "route_message_bytes", w.routeMessageBytes, 128, 64 << 20);
    w.routeSendQueue = readSize(ws, "route_send_queue", w.routeSendQueue, 1, 1'000'000);
    w.idleTimeout = readDuration(ws, "idle_timeout", w.idleTimeout);
    w.maxConnections = readSize(ws, "max_connections", w.maxConnections, 1, 1'000'000);
    ws.finish();
  }
  // On a loopback listen every client is 127.0.0.1 (or a local proxy): a limit
  // per address would be a second, lower global limit.
  if (perAddressDefault && isLoopback(settings.address))
    settings.maxConnectionsPerAddress = settings.maxConnections + settings.webSocket.maxConnections;
  {
    ConfigReader cors(reader.child("cors"), diagnostics);
    const ConfigNode& origins = cors.child("allow_origins");
    if (!origins.isNull() && !origins.isSequence())
      diagnostics.error(origins.location(), "'allow_origins': expected a list of origins");
    for (const ConfigNode& item : origins.items()) {
      auto origin = item.as<std::string>();
      if (!origin.ok()) {
        diagnostics.error(item.location(), "'allow_origins': " + origin.status().message());
        continue;
      }
      bool clean = !origin->empty();
      for (char c : *origin)
        if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) clean = false;
      if (!clean || (*origin != "*" && origin->find("://") == std::string::npos)) {
        diagnostics.error(item.location(), "'allow_origins': '" + *origin +
                                               "' is not an origin such as https://app.example.com or *");
        continue;
      }
      settings.corsOrigins.push_back(*origin);
    }
    cors.finish();
  }
  readTls(reader, settings, diagnostics);
  settings.allowInsecure = reader.get<bool>("allow_insecure", false);
  settings.accessLog = reader.get<bool>("access_log", true);
  std::string scope = reader.get<std::string>("local_token", "admin");
  if (scope == "admin" || scope == "writes" || scope == "off")
    settings.localToken = scope == "admin"    ? LocalTokenScope::kAdmin
                          : scope == "writes" ? LocalTokenScope::kWrites
                                              : LocalTokenScope::kOff;
  else
    reader.reject("local_token", "'" + scope + "' is not one of admin, writes, off");
  reader.finish();
  return settings;
}

}  // namespace hive::api
