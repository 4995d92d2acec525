// Outbound webhooks: subscriptions of a URL to bus topics, and the durable
// delivery of each matching event to it.
//
// An event is first written to the subscription's own store queue
// (integration.out.<subscription>), keyed by subscription and event id, so it
// survives a restart and is queued once however often the bus repeats it. The
// delivery threads claim from those queues, at most `concurrency_per_target`
// items of one subscription at a time, POST each signed, and on failure leave
// it to the queue's retry time (exponential backoff with jitter). After
// `max_attempts` an item moves to the subscription's dead letters, from which
// it can be replayed. Every outcome is written to the delivery log.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "config.hpp"
#include "hive/context.hpp"
#include "hive/services/bus.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"
#include "hive/services/tenancy.hpp"
#include "http_post.hpp"

namespace hive::integration_engine {

struct WebhookSubscription {
  std::string id;
  std::string url;
  Url target;
  std::vector<std::string> topics;
  std::string description;
  std::string createdBy;
  std::int64_t createdAtMs = 0;
  // Whose events it gets (hive.tenancy/1): its creator's tenant's, or every
  // tenant's when the creator spans tenants. An event's tenant is the
  // top-level "tenant" of its payload ("" when absent).
  std::string tenant;
  bool allTenants = false;

  bool receives(std::string_view eventTenant) const { return allTenants || eventTenant == tenant; }

  boost::json::object toJson() const;
};

// The topic roots a subscription may follow.
bool followableTopic(const std::string& pattern);

class Outbox {
 public:
  Outbox(PluginContext& context, ServiceHandle<store::Store> store, OutboundOptions options);
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Declares the collections and reads the subscriptions.
  Status open();
  // Reads the subscriptions again: those other nodes sharing the store made
  // or removed since.
  Status refresh();
  // Starts and stops the delivery threads; stop() waits for the deliveries in
  // flight (each bounded by `timeout`). What is left stays queued in the store.
  void start();
  void stop();

  ServiceRegistry& services() { return context_.services(); }

  // Whether a subscription follows `topic` (cheap: no store).
  bool follows(const std::string& topic) const;
  // Queues `event` for every subscription that follows its topic. Blocking.
  void onEvent(const bus::Event& event);

  // The REST side; all blocking. `errors` gets field errors of a bad body.
  Result<boost::json::object> subscribe(const boost::json::value& body, const std::string& principal,
                                        const tenancy::Scope& scope, std::vector<http::FieldError>& errors);
  std::vector<WebhookSubscription> subscriptions() const;
  Result<WebhookSubscription> subscription(const std::string& id) const;
  Status unsubscribe(const std::string& id);
  Result<boost::json::object> deliveries(const std::string& id, const std::string& cursor, std::size_t limit);
  Result<boost::json::object> deadLetters(const std::string& id, const std::string& cursor,
                                          std::size_t limit);
  // Queues dead letters again (all of the subscription's when `ids` is
  // empty, at most 1000 a call); returns how many.
  Result<std::size_t> replay(const std::string& id, const std::vector<std::string>& ids);

 private:
  void work();
  bool deliverOne(const WebhookSubscription& subscription);
  std::chrono::milliseconds backoff(std::uint32_t attempts);
  void record(const WebhookSubscription& subscription, const store::QueueItem& item,
              const std::string& status, int answered, const std::string& error);

  PluginContext& context_;
  ServiceHandle<store::Store> store_;
  const OutboundOptions options_;
  Counter& queued_;
  Counter& delivered_;
  Counter& failed_;
  Counter& dead_;
  Counter& dropped_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<WebhookSubscription> subscriptions_;
  std::uint64_t changes_ = 0;  // subscribe/unsubscribe here, so that a refresh does not undo them
  std::map<std::string, std::size_t> inFlight_;  // per subscription
  std::size_t next_ = 0;                         // round-robin start
  bool stopping_ = true;
  std::vector<std::thread> threads_;
  std::mt19937_64 random_{std::random_device{}()};
};

}  // namespace hive::integration_engine
