// The event hub behind /api/v2/ws: one subscription to hive.bus/1 ("*") fanned
// out to the connected clients whose topic patterns match, and replays for
// clients resuming with `since`. Beast-free; connections live in websocket.cpp.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hive/context.hpp"
#include "hive/follower.hpp"
#include "hive/services/bus.hpp"

namespace hive::api {

inline constexpr std::string_view kHubSubprotocol = "hive.v1";

// One bus event as clients receive it, serialised once for all of them.
struct HubEvent {
  std::string id;
  std::string topic;
  std::string text;     // the JSON envelope
  std::string tenant;   // the payload's top-level "tenant" ("" when none): who may see it (hive.tenancy/1)
  std::string project;  // and "project": a key bound to a project sees its own only (hive.projects/1)
};

class HubClient {
 public:
  virtual ~HubClient() = default;
  // From a bus thread: whether any of the client's patterns matches `topic`
  // (so that an event is posted only to the clients that want it).
  virtual bool wants(std::string_view topic) const = 0;
  // From a bus thread; the client moves it to its own strand.
  virtual void deliver(std::shared_ptr<const HubEvent> event) = 0;
};

class Hub {
 public:
  explicit Hub(PluginContext& context);
  ~Hub();

  // Follows hive.bus/1 (hive::ServiceFollower): subscribed to the provider
  // serving now, and to the next one after a swap or when one appears.
  void start();
  // Refuses new replays.
  void beginDrain();
  // No replay in flight.
  bool idle() const;
  // Drops the bus subscription and waits for replays in flight.
  void stop();

  std::uint64_t add(std::weak_ptr<HubClient> client);
  void remove(std::uint64_t id);

  // Runs Bus::replay on the blocking pool and calls `done` there; false when
  // there is no bus or the hub is draining (then `done` is not called).
  bool replay(std::string pattern, std::string since, std::size_t limit,
              std::function<void(Result<std::vector<bus::Event>>)> done);

  static std::shared_ptr<const HubEvent> envelope(const bus::Event& event);

 private:
  void onEvent(const bus::Event& event);

  PluginContext& context_;

  mutable std::mutex mutex_;
  std::condition_variable idleChanged_;
  std::size_t replaysInFlight_ = 0;
  bool refusing_ = false;
  std::uint64_t serial_ = 0;
  std::unordered_map<std::uint64_t, std::weak_ptr<HubClient>> clients_;
  // Last: its subscription calls onEvent(), which uses the members above.
  ServiceFollower<bus::Bus> events_;
};

// Milliseconds since the Unix epoch, for the envelope's `ts`.
std::int64_t nowMs();

}  // namespace hive::api
