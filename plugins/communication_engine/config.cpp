#include "config.hpp"

#include <charconv>
#include <cstdint>

namespace hive::communication_engine {
namespace {

// An integer option within [low, high]; out of range is reported at the value.
std::size_t readBounded(ConfigReader& reader, std::string_view key, std::int64_t fallback, std::int64_t low,
                        std::int64_t high) {
  return static_cast<std::size_t>(reader.getInRange<std::int64_t>(key, fallback, low, high));
}

std::chrono::milliseconds readDuration(ConfigReader& reader, std::string_view key,
                                       std::chrono::milliseconds fallback, std::chrono::milliseconds low,
                                       std::chrono::milliseconds high) {
  return reader.getInRange<std::chrono::milliseconds>(key, fallback, low, high);
}

}  // namespace

BusConfig readBusConfig(const ConfigNode& section, Diagnostics& diagnostics) {
  BusConfig config;
  ConfigReader reader(section, diagnostics);
  std::string transport = reader.get<std::string>("transport", "local");
  if (transport == "local") {
    config.transport = Transport::kLocal;
  } else if (transport == "redis") {
    config.transport = Transport::kRedis;
  } else {
    reader.reject("transport", "expected local or redis, got '" + transport + "'");
  }
  config.history = readBounded(reader, "history", 10'000, 1, 10'000'000);
  config.historyBytes =
      readBounded(reader, "history_bytes", std::int64_t{64} << 20, 1 << 20, std::int64_t{64} << 30);
  config.dispatchQueue = readBounded(reader, "dispatch_queue", 10'000, 1, 10'000'000);
  config.maxPayload = readBounded(reader, "max_payload", 1 << 20, 1, 512 << 20);
  config.maxStreamLength = readBounded(reader, "max_stream_length", 1'000'000, 1, 1'000'000'000);

  const ConfigNode& redisNode = reader.child("redis");
  if (config.transport == Transport::kRedis && redisNode.isNull())
    reader.reject("transport", "transport redis needs a redis: section with a url");
  if (!redisNode.isNull()) {
    ConfigReader redis(redisNode, diagnostics);
    RedisSettings& settings = config.redis;
    if (const ConfigNode* url = redisNode.find("url"); url != nullptr && url->isScalar()) {
      auto endpoint = parseRedisUrl(url->text());
      if (endpoint.ok()) {
        settings.endpoint = *endpoint;
      } else {
        diagnostics.error(url->location(), "'url': " + endpoint.status().message());
      }
    }
    redis.require<std::string>("url");
    settings.prefix = redis.get<std::string>("prefix", settings.prefix);
    if (settings.prefix.size() > 100) redis.reject("prefix", "longer than 100 characters");
    for (char c : settings.prefix)
      if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\' || c <= ' ') {
        redis.reject("prefix", "may not hold spaces or glob characters (*?[]\\)");
        break;
      }
    settings.buffer = readBounded(redis, "buffer", 10'000, 1, 10'000'000);
    using std::chrono::milliseconds;
    settings.commandTimeout =
        readDuration(redis, "command_timeout", milliseconds(5'000), milliseconds(10), milliseconds(600'000));
    settings.publishWait =
        readDuration(redis, "publish_wait", milliseconds(1'000), milliseconds(0), milliseconds(60'000));
    settings.reconnectInitial =
        readDuration(redis, "reconnect_initial", milliseconds(50), milliseconds(1), milliseconds(60'000));
    settings.reconnectMax =
        readDuration(redis, "reconnect_max", milliseconds(2'000), milliseconds(1), milliseconds(600'000));
    if (settings.reconnectMax < settings.reconnectInitial)
      redis.reject("reconnect_max", "must not be less than reconnect_initial");
    settings.blockingConnections = readBounded(redis, "blocking_connections", 8, 1, 1024);
    redis.finish();
  }
  reader.finish();
  return config;
}

}  // namespace hive::communication_engine
