// The `api` plugin's settings: its YAML section as a typed struct, validated once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "hive/config.hpp"
#include "local_token.hpp"

namespace hive::api {

struct WebSocketLimits {
  std::size_t messageBytes = 64 * 1024;  // larger message: close 1009
  std::size_t subscriptions = 64;        // per connection
  std::uint32_t messagesPerSecond = 50;  // per hub (/api/v2/ws) connection, pings included: close 1008 beyond
  std::size_t sendQueue = 256;           // messages waiting to be written: slow consumer closed beyond
  // A provider's WebSocket route (remote agents at /api/v2/agents/connect) has
  // limits of its own: an agent finishing thousands of tasks a second sends and
  // receives that many messages, and a result may be as large as a task's
  // payload (task_manager's 256 KiB by default). A full send queue there is
  // not closed: send() refuses the message and the provider back-pressures.
  std::uint32_t routeMessagesPerSecond = 20'000;
  std::size_t routeMessageBytes = 1024 * 1024;
  std::size_t routeSendQueue = 4096;
  std::chrono::milliseconds idleTimeout{120'000};
  std::size_t maxConnections = 10'000;
};

// HTTPS and WSS on the listener (tls.cpp). Paths are absolute (relative ones
// are resolved against the directory of the config file).
struct TlsSettings {
  std::string certFile;            // PEM: the certificate, then its chain
  std::string keyFile;             // PEM: its private key
  std::string clientCaFile;        // PEM: when set, clients must present a certificate it signed (mTLS)
  std::string minVersion = "1.2";  // "1.2" or "1.3"
  // TLS 1.2 suites (TLS 1.3 ones are OpenSSL's defaults, all AEAD): forward
  // secret AEAD only, Mozilla's "intermediate" list without DHE.
  std::string ciphers =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
  // How often, at most, a new connection makes the files be looked at again
  // (inode, size, mtime); changed files are loaded for the connections after.
  std::chrono::milliseconds reloadInterval{1'000};
  bool enabled() const { return !certFile.empty(); }
};

struct Settings {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;
  std::size_t headerBytes = 16 * 1024;              // request line + headers: 431 beyond
  std::size_t targetBytes = 8 * 1024;               // request target: 414 beyond
  std::size_t headerCount = 64;                     // 431 beyond
  std::size_t bodyBytes = 1024 * 1024;              // 413 beyond (a route may lower it)
  std::chrono::milliseconds headerTimeout{10'000};  // whole request head: 408
  std::chrono::milliseconds bodyTimeout{30'000};    // body after the head: 408
  std::chrono::milliseconds idleTimeout{60'000};    // keep-alive connection without a request
  std::size_t maxConnections = 1024;  // HTTP; at the limit the oldest idle one is closed, else 503
  // HTTP and WebSocket connections from one client address: 429 beyond. Unset:
  // 256, or no limit of its own (HTTP + WebSocket maxima) on a loopback listen,
  // where every client has the same address.
  std::size_t maxConnectionsPerAddress = 256;
  WebSocketLimits webSocket;
  std::vector<std::string> corsOrigins;  // exact origins, or "*"
  TlsSettings tls;
  // Plain HTTP on a non-loopback address: refused unless set (credentials
  // and tasks would cross the network in clear).
  bool allowInsecure = false;
  bool accessLog = true;
  // While no hive.auth/1 provider runs, which routes need the local token
  // (local_token.hpp): `local_token: admin | writes | off`.
  LocalTokenScope localToken = LocalTokenScope::kAdmin;
};

// Reads the section; every problem goes to `diagnostics` with its location.
Settings readSettings(const ConfigNode& section, Diagnostics& diagnostics);

// Whether `address` is a loopback address (127.0.0.0/8, ::1, localhost).
bool isLoopback(const std::string& address);

}  // namespace hive::api
