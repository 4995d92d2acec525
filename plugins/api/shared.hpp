// State every connection of one server shares: settings, the middleware, the
// hub, live-handler accounting (so that stop() knows when none of our code is
// scheduled) and the registry of open connections (to drain or close them).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "config.hpp"
#include "hive/context.hpp"

namespace hive::api {

class Dispatcher;
class Hub;

// A connection the server can drain or close from outside its strand.
class Connection {
 public:
  virtual ~Connection() = default;
  virtual void drain() = 0;     // finish the in-flight request, then close (WebSocket: 1001)
  virtual void shutdown() = 0;  // close now
};

struct Shared {
  Shared(PluginContext& context, const Settings& settings, Dispatcher& dispatcher, Hub& hub)
      : context(context),
        settings(settings),
        dispatcher(dispatcher),
        hub(hub),
        openConnections(
            context.metrics().gauge("api_open_connections", "Open HTTP and WebSocket connections")) {}

  PluginContext& context;
  const Settings& settings;
  Dispatcher& dispatcher;
  Hub& hub;
  Gauge& openConnections;

  std::atomic<bool> draining{false};
  std::atomic<bool> stopping{false};
  std::atomic<std::int64_t> live{0};  // sessions and listeners alive (each owns its pending handlers)
  std::atomic<std::size_t> httpConnections{0};
  std::atomic<std::size_t> webSocketConnections{0};

  std::uint64_t add(std::weak_ptr<Connection> connection) {
    std::lock_guard lock(mutex);
    std::uint64_t id = ++serial;
    connections.emplace(id, std::move(connection));
    return id;
  }
  void remove(std::uint64_t id) {
    std::lock_guard lock(mutex);
    connections.erase(id);
  }
  template <typename Each>
  void forEach(Each each) {
    std::vector<std::shared_ptr<Connection>> alive;
    {
      std::lock_guard lock(mutex);
      for (auto& [id, weak] : connections)
        if (auto strong = weak.lock()) alive.push_back(std::move(strong));
    }
    for (auto& connection : alive) each(*connection);
  }

  std::mutex mutex;
  std::uint64_t serial = 0;
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> connections;
};

// Counts one live object of ours in Shared::live for as long as it exists.
class LiveToken {
 public:
  explicit LiveToken(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {
    shared_->live.fetch_add(1);
  }
  ~LiveToken() { shared_->live.fetch_sub(1); }
  LiveToken(const LiveToken&) = delete;
  LiveToken& operator=(const LiveToken&) = delete;
  Shared& operator*() const { return *shared_; }
  Shared* operator->() const { return shared_.get(); }
  const std::shared_ptr<Shared>& shared() const { return shared_; }

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace hive::api
