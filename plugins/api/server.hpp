// The HTTP/1.1 server: a listener and one session per connection on the
// kernel's io_context (Beast stays inside server.cpp and websocket.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "config.hpp"
#include "hive/context.hpp"
#include "hive/status.hpp"

namespace hive::api {

class Dispatcher;
class Hub;
class TlsContexts;
struct Shared;

class Server {
 public:
  Server(PluginContext& context, const Settings& settings, Dispatcher& dispatcher, Hub& hub);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the configured address (port 0: any free port).
  Status listen();
  // Serves on a listening socket handed over by the previous generation (owns `fd`).
  Status adopt(int fd);
  // A dup() of the listening socket for the next generation.
  Result<int> duplicateListener() const;
  std::uint16_t port() const;

  // Stops accepting; keep-alive connections get `Connection: close` after their
  // in-flight request, idle ones close after a short grace, WebSockets get 1001.
  void beginDrain();
  // hive.swaps/1 kComing for `provider`: its WebSockets close with 1012.
  // Returns how many connections were told.
  std::size_t providerSwapping(const std::string& provider);
  // No connection, accept or handler left.
  bool idle() const;
  // Closes everything and waits (bounded) until no handler of ours is left.
  void stop();

 private:
  // The TLS contexts of settings.tls; null for plain HTTP.
  Result<std::shared_ptr<TlsContexts>> loadTls() const;

  std::shared_ptr<Shared> shared_;
  struct Listener;
  std::shared_ptr<Listener> listener_;
};

}  // namespace hive::api
