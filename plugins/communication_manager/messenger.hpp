// Messages between agents (docs/messaging.md, "Messages between agents").
//
// Every recipient has a durable queue on the bus: the stream
// "messages.inbox.<agent id>" with the consumer group "inbox", read by the node
// the agent is connected to (consumer = that node's name). A message is
// accepted once it is appended to each recipient's stream. A node delivers
// what waits for each agent connected to it, at most max_in_flight unacked at
// a time, in stream order (so in order per sender); an ack acks the bus
// message. Unacked messages are taken over and delivered again after
// ack_timeout, and at once when the agent reconnects (on any node); a message
// delivered max_deliveries times goes to the stream's dead letters instead.
//
// Every accepted message is also published as the event "messages.queued"
// (the WebSocket shows it; GET /api/v2/messages reads the recent ones back;
// other nodes learn from it that one of their agents has mail).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config.hpp"
#include "directory.hpp"
#include "envelope.hpp"
#include "hive/context.hpp"
#include "hive/follower.hpp"
#include "hive/services/agent_frames.hpp"
#include "hive/services/bus.hpp"
#include "hive/services/tenancy.hpp"
#include "limits.hpp"

namespace hive::communication_manager {

struct Accepted {
  std::string id;
  std::vector<std::string> recipients;  // whose queue holds it
  std::vector<std::string> full;        // recipients whose queue was full (max_queue): skipped
};

struct RecentPage {
  std::vector<std::string> items;  // event payloads (JSON objects)
  std::string nextCursor;
};

struct DeadLetterView {
  std::string key;  // "<agent id>~<dead letter id>", the REST id
  std::string agentId;
  bus::DeadLetter letter;
};

class Messenger : public std::enable_shared_from_this<Messenger> {
 public:
  Messenger(PluginContext& context, Options options, ServiceHandle<bus::Bus> bus,
            ServiceHandle<store::Store> store, ServiceHandle<agents::AgentFrames> frames);
  ~Messenger();

  Status open();
  // Stops taking frames and events and waits for the work in progress.
  void close();
  bool idle() const { return inFlight_ == 0; }

  // A frame of type message.* from an agent connected here.
  void onFrame(const std::string& agentId, const std::string& frame);
  void onPresence(const agents::AgentPresence& presence);
  // Redelivery of what waited past ack_timeout, timeouts of requests.
  void sweep();

  // Takes one message of `sender`'s rate (rate_per_second, rate_burst); false: refuse it.
  bool withinRate(const std::string& sender) { return limits_.take(sender); }
  // Tenants (hive.tenancy/1): a sender reaches the agents of its tenant only
  // (a client's scope, an agent's own tenant); a client sees the messages and
  // dead letters of its tenant's agents only; another tenant's agent is
  // "not found".
  // From an agent (`from` = its id) or a client ("client:<principal>").
  Result<Accepted> send(const std::string& from, const tenancy::Scope& scope, const SendRequest& request);
  Result<RecentPage> recent(const tenancy::Scope& scope, const std::string& agentId, const std::string& after,
                            std::size_t limit);
  Result<std::vector<DeadLetterView>> deadLetters(const tenancy::Scope& scope, const std::string& agentId,
                                                  std::size_t limit);
  Status replayDeadLetter(const tenancy::Scope& scope, const std::string& key);
  Status discardDeadLetter(const tenancy::Scope& scope, const std::string& key);

  const Options& options() const { return options_; }
  ServiceRegistry& services() { return context_.services(); }
  // Runs `work` on the blocking pool, counted for idle().
  void post(std::function<void()> work);

 private:
  struct Inbox {
    struct Delivery {
      std::string streamId;
      std::int64_t atMs = 0;
    };
    std::map<std::string, Delivery> inFlight;  // message id → its delivery
    bool pumping = false;
    bool again = false;
    bool takeOver = true;     // claim what an earlier connection left unacked
    std::uint64_t epoch = 0;  // which hello made it
  };
  struct Request {
    std::string requester;
    std::string correlationId;
    std::int64_t deadlineMs = 0;
  };

  void onEvent(const bus::Event& event);
  void handleSend(const std::string& agentId, const std::string& frame);
  void handleAck(const std::string& agentId, const std::string& id);
  void handleSubscription(const std::string& agentId, const std::string& frame, bool subscribe);
  void reply(const std::string& agentId, std::string frame);
  // Delivers what waits for `agentId`, one pump per agent at a time.
  void pump(const std::string& agentId);
  void schedulePump(const std::string& agentId);
  bool deliver(bus::Bus& bus, const std::string& agentId, const bus::StreamMessage& message);
  Status ensureGroup(bus::Bus& bus, const std::string& agentId);
  Result<std::vector<std::string>> resolve(const Address& to, const std::string& from,
                                           const tenancy::Scope& scope);
  // The tenant an agent's messages are kept in; kNotFound for an agent never
  // seen, or one `scope` does not see.
  Result<std::string> tenantOfAgent(const tenancy::Scope& scope, const std::string& agentId);
  void countQueued(const std::string& agentId, std::int64_t delta);
  void publish(bus::Bus& bus, std::string_view topic, const std::string& payload);
  Result<std::pair<std::string, std::string>> splitKey(const std::string& key);

  PluginContext& context_;
  const Options options_;
  ServiceHandle<bus::Bus> bus_;
  ServiceHandle<agents::AgentFrames> frames_;
  Directory directory_;
  RateLimits limits_;

  std::mutex mutex_;
  std::map<std::string, Inbox> inboxes_;        // agents connected here
  std::map<std::string, std::int64_t> queued_;  // recipient → messages waiting (as this node counted)
  std::map<std::string, Request> requests_;     // request id → who waits for a reply
  std::set<std::string> groups_;                // inbox groups made by this process
  std::uint64_t epochs_ = 0;

  std::atomic<bool> open_{false};
  std::atomic<int> inFlight_{0};
  std::mutex idleMutex_;
  std::condition_variable idleChanged_;

  // Last: dropped first, while everything they call still exists.
  ServiceFollower<bus::Bus> events_;
  ServiceFollower<agents::AgentFrames> frameHandler_;
  ServiceFollower<agents::AgentFrames> presence_;
};

}  // namespace hive::communication_manager
