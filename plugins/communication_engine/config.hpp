// The plugin's config section -> BusConfig, validated once with file:line:col.
//
//   transport: local            # local | redis
//   history: 10000              # events kept for replay
//   history_bytes: 67108864     # local only: and at most this many bytes of them
//   dispatch_queue: 10000       # events waiting for subscriber callbacks
//   max_payload: 1048576        # bytes per event or message
//   max_stream_length: 1000000  # local only: messages kept per stream (append fails beyond)
//   redis:
//     url: redis://:secret@127.0.0.1:6379/0
//     prefix: "hive:"           # every key and channel starts with it
//     buffer: 10000             # publishes/appends held while Redis is away
//     command_timeout: 5s       # how long a call waits for Redis
//     publish_wait: 1s          # how long publish() waits for its id before buffering
//     reconnect_initial: 50ms   # first reconnect delay, doubled up to reconnect_max
//     reconnect_max: 2s
//     blocking_connections: 8   # connections for read() with a wait
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "hive/config.hpp"
#include "plugin_common/redis_url.hpp"

namespace hive::communication_engine {

enum class Transport { kLocal, kRedis };

// The endpoint and its URL parser are shared with security_manager (plugins/common).
using plugin_common::parseRedisUrl;
using plugin_common::RedisEndpoint;

struct RedisSettings {
  RedisEndpoint endpoint;
  std::string prefix = "hive:";
  std::size_t buffer = 10'000;
  std::chrono::milliseconds commandTimeout{5'000};
  std::chrono::milliseconds publishWait{1'000};
  std::chrono::milliseconds reconnectInitial{50};
  std::chrono::milliseconds reconnectMax{2'000};
  std::size_t blockingConnections = 8;
};

struct BusConfig {
  Transport transport = Transport::kLocal;
  std::size_t history = 10'000;
  std::size_t historyBytes = std::size_t{64} << 20;
  std::size_t dispatchQueue = 10'000;
  std::size_t maxPayload = 1 << 20;
  std::size_t maxStreamLength = 1'000'000;
  RedisSettings redis;
};

BusConfig readBusConfig(const ConfigNode& section, Diagnostics& diagnostics);

}  // namespace hive::communication_engine
