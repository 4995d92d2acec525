#include "inbound.hpp"

#include <chrono>

#include "plugin_common/admission_refusal.hpp"
#include "plugin_common/clock_ids.hpp"
#include "plugin_common/route_call.hpp"

namespace hive::integration_engine {

namespace json = boost::json;

namespace {

constexpr const char* kOutcomes = "integration_inbound";
constexpr const char* kAudit = "integration_audit";

http::Response reply(int status, std::string body) {
  http::Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

bool printable(const std::string& text) {
  for (char c : text)
    if (c < 0x21 || c > 0x7E) return false;
  return true;
}

// A record id or idempotency key of bounded size, whatever the sender's
// delivery id looks like.
std::string deliveryKey(const std::string& endpoint, const std::string& delivery) {
  std::string key = "webhook:" + endpoint + ":" + delivery;
  if (key.size() <= 120 && printable(delivery)) return key;
  return "webhook:" + endpoint + ":h" + hmacSha256Hex("hive-delivery", delivery).substr(0, 40);
}

}  // namespace

InboundWebhooks::InboundWebhooks(PluginContext& context, ServiceHandle<store::Store> store,
                                 std::vector<InboundEndpoint> endpoints, Seconds now)
    : context_(context),
      store_(std::move(store)),
      endpoints_(std::move(endpoints)),
      now_(std::move(now)),
      accepted_(context.metrics().counter("hive_webhooks_in_accepted_total",
                                          "Inbound webhook deliveries that started a run or a task")),
      refused_(
          context.metrics().counter("hive_webhooks_in_refused_total",
                                    "Inbound webhook requests refused (signature, size, body, delivery id)")),
      replayed_(context.metrics().counter("hive_webhooks_in_redelivered_total",
                                          "Inbound webhook redeliveries answered with the first outcome")) {}

Status InboundWebhooks::open() {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  return store->declareCollection({kOutcomes, {"endpoint"}});
}

json::array InboundWebhooks::describe() const {
  json::array out;
  for (const InboundEndpoint& endpoint : endpoints_) {
    json::object item{{"name", endpoint.name},
                      {"path", "/api/v2/integrations/webhooks/" + endpoint.name},
                      {"scheme", endpoint.scheme == SignatureScheme::kGithub ? "github" : "generic"},
                      {"tolerance_seconds", endpoint.tolerance.count()},
                      {"max_body_bytes", endpoint.maxBodyBytes}};
    if (!endpoint.workflow.empty()) item["workflow"] = endpoint.workflow;
    if (!endpoint.task.empty()) item["task"] = endpoint.task;
    out.push_back(std::move(item));
  }
  return out;
}

std::size_t InboundWebhooks::maxBodyBytes() const {
  std::size_t largest = 1024;
  for (const InboundEndpoint& endpoint : endpoints_) largest = std::max(largest, endpoint.maxBodyBytes);
  return largest;
}

http::Response InboundWebhooks::refuse(const InboundEndpoint& endpoint, const http::Request& request,
                                       const std::string& reason) {
  refused_.increment();
  context_.log().warn("webhook '" + endpoint.name + "' refused a request from " + request.remoteAddress +
                      ": " + reason);
  if (auto store = store_.lease()) {
    json::object entry{{"event", "webhook.refused"},
                       {"endpoint", endpoint.name},
                       {"reason", reason},
                       {"remote", request.remoteAddress},
                       {"request_id", request.requestId},
                       {"at_ms", plugin_common::nowMs()}};
    if (Result<std::uint64_t> logged = store->append(kAudit, "webhook.refused", json::serialize(entry));
        !logged.ok())
      context_.log().warn("audit record of a refused webhook not written: " + logged.status().message());
  }
  // The same answer for every refusal: the sender learns nothing about which check failed.
  return http::problem(401, "Unauthorized", "signature verification failed");
}

void InboundWebhooks::handle(http::Request request, http::Responder respond, const Background& background,
                             std::shared_ptr<void> hold) {
  if (!hold)
    return respond(http::problem(503, "Service Unavailable", "integration_engine is being replaced; retry"));
  // `hold` rides along until the answer: the plugin is not drained before.
  auto shared = std::make_shared<std::pair<http::Request, http::Responder>>(
      std::move(request),
      [respond = std::move(respond), hold](http::Response response) { respond(std::move(response)); });
  bool queued = background([this, shared, background] {
    const InboundEndpoint* endpoint = nullptr;
    std::string key;
    json::value body;
    if (std::optional<http::Response> answer = check(shared->first, endpoint, key, body))
      return shared->second(std::move(*answer));
    start(*endpoint, body, key, [this, shared, endpoint, key, background](http::Response outcome) {
      auto result = std::make_shared<http::Response>(std::move(outcome));
      const std::string& delivery = *shared->first.header(
          endpoint->scheme == SignatureScheme::kGithub ? "x-github-delivery" : "x-hive-delivery");
      // The outcome is recorded off the caller's thread (it may be an I/O thread).
      if (!background([this, shared, endpoint, key, result, delivery] {
            shared->second(record(*endpoint, delivery, key, std::move(*result)));
          }))
        shared->second(std::move(*result));  // draining: idempotency keys still hold, unrecorded
    });
  });
  if (!queued)
    shared->second(http::problem(503, "Service Unavailable", "integration_engine is being replaced; retry"));
}

http::Response InboundWebhooks::recorded(const store::Document& document) {
  replayed_.increment();
  std::error_code ec;
  json::value outcome = json::parse(document.body, ec);
  if (ec || !outcome.is_object()) return http::problem(500, "Internal Server Error");
  http::Response response = reply(static_cast<int>(outcome.at("status").to_number<std::int64_t>()),
                                  std::string(outcome.at("body").as_string()));
  if (response.status >= 400) response.contentType = "application/problem+json";
  response.headers.push_back({"idempotent-replayed", "true"});
  return response;
}

std::optional<http::Response> InboundWebhooks::check(const http::Request& request,
                                                     const InboundEndpoint*& endpoint, std::string& key,
                                                     json::value& body) {
  const std::string& name = request.param("name");
  for (const InboundEndpoint& candidate : endpoints_)
    if (candidate.name == name) endpoint = &candidate;
  if (endpoint == nullptr) return http::problem(404, "Not Found", "no webhook '" + name + "'");
  if (request.body.size() > endpoint->maxBodyBytes) {
    refused_.increment();
    return http::problem(413, "Content Too Large",
                         "the body exceeds max_body_bytes " + std::to_string(endpoint->maxBodyBytes));
  }
  if (Status verified = verify(endpoint->scheme, endpoint->secret, request, now_(), endpoint->tolerance);
      !verified.ok())
    return refuse(*endpoint, request, verified.message());

  const std::string* delivery =
      request.header(endpoint->scheme == SignatureScheme::kGithub ? "x-github-delivery" : "x-hive-delivery");
  if (delivery == nullptr || delivery->empty() || delivery->size() > 512) {
    refused_.increment();
    return http::problem(400, "Bad Request",
                         endpoint->scheme == SignatureScheme::kGithub
                             ? "an X-GitHub-Delivery header is required"
                             : "an X-Hive-Delivery header is required");
  }
  key = deliveryKey(endpoint->name, *delivery);
  auto store = store_.lease();
  if (!store) return http::problem(503, "Service Unavailable", "hive.store/1 is gone");
  if (Result<store::Document> first = store->get(kOutcomes, key); first.ok()) return recorded(*first);

  std::error_code ec;
  body = json::parse(request.body, ec);
  if (ec) {
    refused_.increment();
    return http::problem(400, "Bad Request", "the body is not JSON: " + ec.message());
  }
  return std::nullopt;
}

http::Response InboundWebhooks::record(const InboundEndpoint& endpoint, const std::string& delivery,
                                       const std::string& key, http::Response outcome) {
  // Outcomes that will not change are recorded; a 5xx (nothing running, no
  // answer) is not, so that the sender's retry may still succeed.
  if (outcome.status >= 500) return outcome;
  auto store = store_.lease();
  if (!store) return outcome;
  json::object record{{"endpoint", endpoint.name},
                      {"delivery", delivery},
                      {"status", outcome.status},
                      {"body", outcome.body}};
  store::Document document;
  document.id = key;
  document.body = json::serialize(record);
  document.index["endpoint"] = endpoint.name;
  Result<store::Document> put = store->put(kOutcomes, std::move(document), store::kMustNotExist);
  if (!put.ok() && put.status().code() == StatusCode::kAborted) {
    // A redelivery racing this one recorded first: answer what it recorded.
    if (Result<store::Document> first = store->get(kOutcomes, key); first.ok()) return recorded(*first);
  } else if (!put.ok()) {
    context_.log().warn("outcome of webhook '" + endpoint.name + "' not recorded: " + put.status().message());
  }
  if (outcome.status < 300) accepted_.increment();
  return outcome;
}

void InboundWebhooks::start(const InboundEndpoint& endpoint, const json::value& body, const std::string& key,
                            std::function<void(http::Response)> done) {
  // New work from outside, refused while the host is saturated
  // (hive.admission/1): a 503 is not recorded, so the sender's retry may pass.
  if (auto refused = plugin_common::admissionRefusal(context_.services(), {"webhook", "", {}}))
    return done(std::move(*refused));
  json::object mapped;
  for (const auto& [target, pointer] : endpoint.map) {
    if (pointer.empty()) {
      mapped[target] = body;
      continue;
    }
    std::error_code ec;
    const json::value* found = body.find_pointer(pointer, ec);
    if (found == nullptr)
      return done(http::problem(
          422, "Unprocessable Content",
          "the body has no " + pointer + " (map." + target + " of webhook '" + endpoint.name + "')"));
    mapped[target] = *found;
  }
  http::Request call;
  call.headers.push_back({"content-type", "application/json"});
  call.headers.push_back({"idempotency-key", key});
  std::string path;
  if (!endpoint.workflow.empty()) {
    path = "/api/v2/workflows/{name}/runs";
    call.params["name"] = endpoint.workflow;
    call.path = call.target = "/api/v2/workflows/" + endpoint.workflow + "/runs";
    call.body = json::serialize(json::object{{"params", mapped}});
  } else {
    path = "/api/v2/tasks";
    call.path = call.target = path;
    json::object task = endpoint.task;
    json::object payload = task.contains("payload") && task["payload"].is_object()
                               ? task["payload"].as_object()
                               : json::object{};
    for (auto& [name, value] : mapped) payload[name] = value;
    task["payload"] = std::move(payload);
    call.body = json::serialize(task);
  }
  std::string target = call.target;
  std::string kind = endpoint.workflow.empty() ? "task" : "run";
  std::string name = endpoint.name;
  plugin_common::callRoute(
      context_.services(), context_.pluginName(), "POST", path, std::move(call),
      [done = std::move(done), target, kind, name](Result<http::Response> answer) {
        if (!answer.ok()) return done(http::problem(503, "Service Unavailable", answer.status().message()));
        if (answer->status != 200 && answer->status != 201) {
          // The started plugin's own refusal (unknown workflow, bad params):
          // the sender's mapping is wrong, not its signature.
          std::string detail =
              "POST " + target + " answered " + std::to_string(answer->status) + ": " + answer->body;
          return done(answer->status >= 500 ? http::problem(503, "Service Unavailable", detail)
                                            : http::problem(422, "Unprocessable Content", detail));
        }
        std::error_code ec;
        json::value started = json::parse(answer->body, ec);
        json::object result{{"endpoint", name}};
        result[kind] = ec ? json::value(nullptr) : started;
        done(reply(202, json::serialize(result)));
      },
      endpoint.tenant);
}

}  // namespace hive::integration_engine
