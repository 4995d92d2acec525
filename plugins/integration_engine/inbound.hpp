// Inbound webhooks: POST /api/v2/integrations/webhooks/{name}. A request is
// checked (size, signature, delivery id), then starts a workflow run or
// submits a task through the routes of workflow_engine / task_manager, with
// values of its JSON body mapped in.
//
// Idempotency rests on the delivery id (X-Hive-Delivery, or GitHub's
// X-GitHub-Delivery): the run or task is started with the Idempotency-Key
// "webhook:<name>:<delivery>", so a redelivery, even one racing the first or
// arriving after a crash between start and record, never starts twice; the
// first outcome is recorded and answered again to every redelivery.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "config.hpp"
#include "hive/context.hpp"
#include "hive/services/http.hpp"
#include "hive/services/store.hpp"

namespace hive::integration_engine {

class InboundWebhooks {
 public:
  using Seconds = std::function<std::int64_t()>;
  InboundWebhooks(PluginContext& context, ServiceHandle<store::Store> store,
                  std::vector<InboundEndpoint> endpoints, Seconds now);

  // Runs `job` on the blocking executor; false when draining.
  using Background = std::function<bool(std::function<void()>)>;

  Status open();
  // Answers one delivery. The store work runs through `background`; the call
  // into workflow_engine / task_manager does not hold a thread while it waits
  // (a blocked pool thread could be the one that would answer it).
  // `hold` (null when draining) keeps the plugin from counting as drained
  // until the answer went out.
  void handle(http::Request request, http::Responder respond, const Background& background,
              std::shared_ptr<void> hold);
  // The endpoints as configured, without their secrets.
  boost::json::array describe() const;
  // The largest body any endpoint accepts (the route's limit).
  std::size_t maxBodyBytes() const;

 private:
  http::Response refuse(const InboundEndpoint& endpoint, const http::Request& request,
                        const std::string& reason);
  // The checks and the recorded outcome; nullopt: go on and start.
  std::optional<http::Response> check(const http::Request& request, const InboundEndpoint*& endpoint,
                                      std::string& key, boost::json::value& body);
  void start(const InboundEndpoint& endpoint, const boost::json::value& body, const std::string& key,
             std::function<void(http::Response)> done);
  http::Response record(const InboundEndpoint& endpoint, const std::string& delivery, const std::string& key,
                        http::Response outcome);
  http::Response recorded(const store::Document& document);

  PluginContext& context_;
  ServiceHandle<store::Store> store_;
  const std::vector<InboundEndpoint> endpoints_;
  Seconds now_;
  Counter& accepted_;
  Counter& refused_;
  Counter& replayed_;
};

}  // namespace hive::integration_engine
