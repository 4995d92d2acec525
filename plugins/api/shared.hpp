// State every connection of one server shares: settings, the middleware, the
// hub, live-handler accounting (so that stop() knows when none of our code is
// scheduled) and the registry of open connections (to drain or close them).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

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
  // Close if still waiting for a request, to make room for a new client.
  virtual void evictIfIdle() {}
  // Route provider `provider` is about to be swapped (WebSocket: 1012 when it
  // is theirs); true when this connection closes for it.
  virtual bool providerSwapping(const std::string& provider) {
    (void)provider;
    return false;
  }
};

struct Shared {
  Shared(PluginContext& context, const Settings& settings, Dispatcher& dispatcher, Hub& hub)
      : context(context),
        settings(settings),
        dispatcher(dispatcher),
        hub(hub),
        openConnections(
            context.metrics().gauge("hive_http_open_connections", "Open HTTP and WebSocket connections")) {}

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

  // HTTP connections waiting for a request (kept alive between requests, or
  // new and silent) are "idle", ordered by when they became so. When the
  // connection limit is reached the oldest is closed to serve a new client
  // (nginx reuses its idle keep-alive connections the same way), so that
  // clients holding idle sockets cannot lock everyone else out.
  std::uint64_t markIdle(std::weak_ptr<Connection> connection) {
    std::lock_guard lock(mutex);
    std::uint64_t key = ++serial;
    idle.emplace(key, std::move(connection));
    return key;
  }
  void clearIdle(std::uint64_t key) {
    if (key == 0) return;
    std::lock_guard lock(mutex);
    idle.erase(key);
  }
  // Removes the oldest idle connection that is still alive from the list.
  std::shared_ptr<Connection> takeOldestIdle() {
    std::lock_guard lock(mutex);
    while (!idle.empty()) {
      auto strong = idle.begin()->second.lock();
      idle.erase(idle.begin());
      if (strong) return strong;
    }
    return nullptr;
  }

  // Connections (HTTP and WebSocket) open from one client address. False when
  // `address` already has `limit`.
  bool claimAddress(const std::string& address, std::size_t limit) {
    std::lock_guard lock(mutex);
    auto& count = perAddress[address];
    if (count >= limit) {
      if (count == 0) perAddress.erase(address);
      return false;
    }
    ++count;
    return true;
  }
  void releaseAddress(const std::string& address) {
    std::lock_guard lock(mutex);
    auto found = perAddress.find(address);
    if (found != perAddress.end() && --found->second == 0) perAddress.erase(found);
  }

  std::mutex mutex;
  std::uint64_t serial = 0;
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> connections;
  std::map<std::uint64_t, std::weak_ptr<Connection>> idle;  // oldest first
  std::unordered_map<std::string, std::size_t> perAddress;
};

// One connection counted against its client address for as long as it exists;
// moves from the HTTP session to the WebSocket connection on upgrade.
class AddressSlot {
 public:
  AddressSlot() = default;
  AddressSlot(std::shared_ptr<Shared> shared, std::string address)
      : shared_(std::move(shared)), address_(std::move(address)) {}
  ~AddressSlot() {
    if (shared_) shared_->releaseAddress(address_);
  }
  AddressSlot(AddressSlot&& other) noexcept
      : shared_(std::move(other.shared_)), address_(std::move(other.address_)) {}
  AddressSlot& operator=(AddressSlot&& other) noexcept {
    if (this != &other) {
      if (shared_) shared_->releaseAddress(address_);
      shared_ = std::move(other.shared_);
      address_ = std::move(other.address_);
    }
    return *this;
  }

 private:
  std::shared_ptr<Shared> shared_;
  std::string address_;
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
