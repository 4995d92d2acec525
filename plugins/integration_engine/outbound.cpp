#include "outbound.hpp"

#include <algorithm>
#include <optional>

#include "hive/services/bus_names.hpp"
#include "plugin_common/clock_ids.hpp"
#include "plugin_common/json_fields.hpp"
#include "signature.hpp"

namespace hive::integration_engine {

namespace json = boost::json;

namespace {

constexpr const char* kSubscriptions = "integration_subscriptions";
constexpr const char* kDeliveries = "integration_deliveries";
constexpr const char* kDeadLetters = "integration_dead_letters";
constexpr std::size_t kMaxTopics = 16;

std::string queueOf(const std::string& subscription) { return "integration.out." + subscription; }

store::Document document(std::string id, std::string body, std::map<std::string, std::string> index = {}) {
  store::Document out;
  out.id = std::move(id);
  out.body = std::move(body);
  out.index = std::move(index);
  return out;
}

store::ListQuery query(std::string collection, std::string subscription, std::size_t limit,
                       std::string cursor = {}) {
  store::ListQuery out;
  out.collection = std::move(collection);
  if (!subscription.empty()) out.equals["subscription"] = std::move(subscription);
  out.limit = limit;
  out.cursor = std::move(cursor);
  return out;
}

store::EnqueueRequest enqueueRequest(std::string queue, std::string payload,
                                     std::string idempotencyKey = {}) {
  store::EnqueueRequest out;
  out.queue = std::move(queue);
  out.payload = std::move(payload);
  out.idempotencyKey = std::move(idempotencyKey);
  return out;
}

store::ClaimRequest claimRequest(std::string queue, std::string claimant, std::chrono::milliseconds lease) {
  store::ClaimRequest out;
  out.queue = std::move(queue);
  out.claimant = std::move(claimant);
  out.lease = lease;
  out.maxItems = 1;
  return out;
}

json::object parseObject(const std::string& text) {
  std::error_code ec;
  json::value value = json::parse(text, ec);
  return !ec && value.is_object() ? value.get_object() : json::object{};
}

Result<WebhookSubscription> fromDocument(const store::Document& document) {
  json::object body = parseObject(document.body);
  WebhookSubscription subscription;
  subscription.id = document.id;
  subscription.url = plugin_common::stringField(body, "url");
  auto target = parseUrl(subscription.url);
  if (!target.ok()) return target.status();
  subscription.target = *target;
  if (const json::value* topics = body.if_contains("topics"); topics && topics->is_array())
    for (const json::value& topic : topics->as_array())
      if (topic.is_string()) subscription.topics.emplace_back(topic.as_string());
  subscription.description = plugin_common::stringField(body, "description");
  subscription.createdBy = plugin_common::stringField(body, "created_by");
  subscription.tenant = plugin_common::stringField(body, "tenant");
  if (const json::value* all = body.if_contains("all_tenants"); all && all->is_bool())
    subscription.allTenants = all->as_bool();
  subscription.createdAtMs = document.createdAtMs;
  return subscription;
}

json::object page(const store::Page& page) {
  json::array items;
  for (const store::Document& document : page.items) items.push_back(parseObject(document.body));
  json::object out{{"items", std::move(items)}};
  if (!page.nextCursor.empty()) out["next_cursor"] = page.nextCursor;
  return out;
}

}  // namespace

json::object WebhookSubscription::toJson() const {
  json::array list;
  for (const std::string& topic : topics) list.push_back(json::string(topic));
  json::object out{{"id", id},
                   {"url", url},
                   {"topics", std::move(list)},
                   {"description", description},
                   {"created_by", createdBy},
                   {"created_at_ms", createdAtMs}};
  if (!tenant.empty()) out["tenant"] = tenant;
  if (allTenants) out["all_tenants"] = true;
  return out;
}

bool followableTopic(const std::string& pattern) {
  if (!bus::checkPattern(pattern).ok()) return false;
  for (std::string_view root : {"tasks", "workflows", "alerts", "batches"}) {
    if (pattern.rfind(root, 0) != 0) continue;
    if (pattern.size() == root.size() || pattern[root.size()] == '.' || pattern[root.size()] == '*')
      return true;
  }
  return false;
}

Outbox::Outbox(PluginContext& context, ServiceHandle<store::Store> store, OutboundOptions options)
    : context_(context),
      store_(std::move(store)),
      options_(std::move(options)),
      queued_(
          context.metrics().counter("hive_webhooks_out_queued_total", "Events queued for outbound webhooks")),
      delivered_(context.metrics().counter("hive_webhooks_out_delivered_total",
                                           "Outbound webhook deliveries a target accepted (2xx)")),
      failed_(
          context.metrics().counter("hive_webhooks_out_failed_attempts_total",
                                    "Outbound webhook attempts that failed (refused, timed out, not 2xx)")),
      dead_(context.metrics().counter("hive_webhooks_out_dead_lettered_total",
                                      "Outbound webhook deliveries dead-lettered after max_attempts")),
      dropped_(context.metrics().counter("hive_webhooks_out_dropped_total",
                                         "Events not queued for a webhook: larger than max_event_bytes")) {}

Outbox::~Outbox() { stop(); }

Status Outbox::open() {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  HIVE_TRY(store->declareCollection({kSubscriptions, {}}));
  HIVE_TRY(store->declareCollection({kDeliveries, {"subscription", "status"}}));
  HIVE_TRY(store->declareCollection({kDeadLetters, {"subscription"}}));
  return refresh();
}

Status Outbox::refresh() {
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  std::uint64_t changes;
  {
    std::lock_guard lock(mutex_);
    changes = changes_;
  }
  std::vector<WebhookSubscription> loaded;
  store::ListQuery listing = query(kSubscriptions, "", 1000);
  do {
    store::Page page = HIVE_TRY(store->list(listing));
    for (const store::Document& document : page.items) {
      Result<WebhookSubscription> subscription = fromDocument(document);
      if (subscription.ok())
        loaded.push_back(std::move(*subscription));
      else
        context_.log().warn("subscription " + document.id + " skipped: " + subscription.status().message());
    }
    listing.cursor = page.nextCursor;
  } while (!listing.cursor.empty());
  std::lock_guard lock(mutex_);
  // A change made here meanwhile is newer than what was listed: the next refresh reads it.
  if (changes == changes_) subscriptions_ = std::move(loaded);
  return okStatus();
}

void Outbox::start() {
  std::lock_guard lock(mutex_);
  if (!threads_.empty()) return;
  stopping_ = false;
  for (std::size_t i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { work(); });
}

void Outbox::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    threads.swap(threads_);
  }
  wake_.notify_all();
  for (std::thread& thread : threads) thread.join();
}

bool Outbox::follows(const std::string& topic) const {
  std::lock_guard lock(mutex_);
  for (const WebhookSubscription& subscription : subscriptions_)
    for (const std::string& pattern : subscription.topics)
      if (bus::topicMatches(pattern, topic)) return true;
  return false;
}

void Outbox::onEvent(const bus::Event& event) {
  // The event's tenant: read only when a subscription follows its topic.
  std::optional<std::string> eventTenant;
  auto tenantOfEvent = [&]() -> const std::string& {
    if (!eventTenant) {
      std::error_code ec;
      json::value payload = json::parse(event.payload, ec);
      eventTenant =
          !ec && payload.is_object() ? plugin_common::stringField(payload.as_object(), "tenant") : "";
    }
    return *eventTenant;
  };
  std::vector<std::string> targets;
  {
    std::lock_guard lock(mutex_);
    for (const WebhookSubscription& subscription : subscriptions_)
      for (const std::string& pattern : subscription.topics)
        if (bus::topicMatches(pattern, event.topic)) {
          if (subscription.receives(tenantOfEvent())) targets.push_back(subscription.id);
          break;
        }
  }
  if (targets.empty()) return;
  if (event.payload.size() > options_.maxEventBytes) {
    dropped_.increment(static_cast<double>(targets.size()));
    context_.log().warn("event " + event.id + " on " + event.topic + " not queued for webhooks: " +
                        std::to_string(event.payload.size()) + " bytes, more than max_event_bytes");
    return;
  }
  auto store = store_.lease();
  if (!store) return;
  std::string payload = json::serialize(json::object{{"topic", event.topic},
                                                     {"event_id", event.id},
                                                     {"timestamp_ms", event.timestampMs},
                                                     {"payload", event.payload}});
  for (const std::string& target : targets) {
    Result<store::QueueItem> queued =
        store->enqueue(enqueueRequest(queueOf(target), payload, target + ":" + event.id));
    if (queued.ok())
      queued_.increment();
    else
      context_.log().warn("event " + event.id + " not queued for subscription " + target + ": " +
                          queued.status().message());
  }
  wake_.notify_all();
}

Result<json::object> Outbox::subscribe(const json::value& body, const std::string& principal,
                                       const tenancy::Scope& scope, std::vector<http::FieldError>& errors) {
  if (!body.is_object()) return invalidArgument("the body must be a JSON object");
  const json::object& object = body.as_object();
  for (const auto& [key, value] : object)
    if (key != "url" && key != "topics" && key != "description")
      errors.push_back({"/" + std::string(key), "unknown field"});
  WebhookSubscription subscription;
  const json::value* url = object.if_contains("url");
  if (url == nullptr || !url->is_string()) {
    errors.push_back({"/url", "required: an http:// URL"});
  } else {
    subscription.url = url->as_string();
    Result<Url> target = parseUrl(subscription.url);
    if (!target.ok()) {
      errors.push_back({"/url", target.status().message()});
    } else {
      subscription.target = *target;
      Status allowed = checkDestination(
          *target, options_.allowPrivateTargets ? AddressPolicy::kAny : AddressPolicy::kPublicOnly);
      if (!allowed.ok()) errors.push_back({"/url", allowed.message()});
    }
  }
  const json::value* topics = object.if_contains("topics");
  if (topics == nullptr || !topics->is_array() || topics->as_array().empty() ||
      topics->as_array().size() > kMaxTopics) {
    errors.push_back({"/topics", "required: 1 to " + std::to_string(kMaxTopics) + " topic patterns"});
  } else {
    for (std::size_t i = 0; i < topics->as_array().size(); ++i) {
      const json::value& topic = topics->as_array()[i];
      if (!topic.is_string() || !followableTopic(std::string(topic.as_string())))
        errors.push_back(
            {"/topics/" + std::to_string(i),
             "must be a topic pattern under tasks, workflows, alerts or batches (e.g. tasks.*)"});
      else
        subscription.topics.emplace_back(topic.as_string());
    }
  }
  if (const json::value* text = object.if_contains("description")) {
    if (!text->is_string() || text->as_string().size() > 200)
      errors.push_back({"/description", "must be a string of at most 200 characters"});
    else
      subscription.description = text->as_string();
  }
  if (!errors.empty()) return invalidArgument("invalid subscription");
  if (options_.signingKey.empty())
    return failedPrecondition("outbound webhooks need outbound.signing_key_file in the plugin's config");
  {
    std::lock_guard lock(mutex_);
    if (subscriptions_.size() >= options_.maxSubscriptions)
      return resourceExhausted("at most " + std::to_string(options_.maxSubscriptions) +
                               " subscriptions (outbound.max_subscriptions)");
  }
  subscription.id = plugin_common::timeOrderedId('s');
  subscription.createdBy = principal;
  subscription.tenant = scope.tenant;
  subscription.allTenants = scope.allTenants;
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  json::object record = subscription.toJson();
  record.erase("created_at_ms");
  store::Document stored = HIVE_TRY(
      store->put(kSubscriptions, document(subscription.id, json::serialize(record)), store::kMustNotExist));
  subscription.createdAtMs = stored.createdAtMs;
  json::object answer = subscription.toJson();
  // Shown once: it is derived from the signing key when needed, never stored.
  answer["secret"] = hmacSha256Hex(options_.signingKey, subscription.id);
  std::lock_guard lock(mutex_);
  subscriptions_.push_back(std::move(subscription));
  ++changes_;
  return answer;
}

std::vector<WebhookSubscription> Outbox::subscriptions() const {
  std::lock_guard lock(mutex_);
  return subscriptions_;
}

Result<WebhookSubscription> Outbox::subscription(const std::string& id) const {
  std::lock_guard lock(mutex_);
  for (const WebhookSubscription& subscription : subscriptions_)
    if (subscription.id == id) return subscription;
  return notFound("no subscription '" + id + "'");
}

Status Outbox::unsubscribe(const std::string& id) {
  HIVE_TRY(subscription(id).status());
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  Status removed = store->remove(kSubscriptions, id);
  if (!removed.ok() && removed.code() != StatusCode::kNotFound) return removed;
  std::lock_guard lock(mutex_);
  std::erase_if(subscriptions_, [&](const WebhookSubscription& s) { return s.id == id; });
  ++changes_;
  return okStatus();
}

Result<json::object> Outbox::deliveries(const std::string& id, const std::string& cursor, std::size_t limit) {
  HIVE_TRY(subscription(id).status());
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  return page(HIVE_TRY(store->list(query(kDeliveries, id, limit, cursor))));
}

Result<json::object> Outbox::deadLetters(const std::string& id, const std::string& cursor,
                                         std::size_t limit) {
  HIVE_TRY(subscription(id).status());
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  return page(HIVE_TRY(store->list(query(kDeadLetters, id, limit, cursor))));
}

Result<std::size_t> Outbox::replay(const std::string& id, const std::vector<std::string>& ids) {
  HIVE_TRY(subscription(id).status());
  auto store = store_.lease();
  if (!store) return unavailable("hive.store/1 is gone");
  std::vector<store::Document> letters;
  if (ids.empty()) {
    letters = HIVE_TRY(store->list(query(kDeadLetters, id, 1000))).items;
  } else {
    for (const std::string& letter : ids) {
      store::Document document = HIVE_TRY(store->get(kDeadLetters, letter));
      if (document.index["subscription"] != id) return notFound("no dead letter '" + letter + "' of " + id);
      letters.push_back(std::move(document));
    }
  }
  HIVE_TRY(store->transact([&](store::Transaction& transaction) -> Status {
    for (const store::Document& letter : letters) {
      json::object body = parseObject(letter.body);
      const json::value* event = body.if_contains("event");
      if (event == nullptr || !event->is_string()) continue;
      HIVE_TRY(transaction.enqueue(enqueueRequest(queueOf(id), std::string(event->as_string()))).status());
      HIVE_TRY(transaction.remove(kDeadLetters, letter.id, letter.version));
    }
    return okStatus();
  }));
  wake_.notify_all();
  return letters.size();
}

void Outbox::work() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    bool worked = false;
    for (std::size_t i = 0; i < subscriptions_.size() && !worked && !stopping_; ++i) {
      WebhookSubscription subscription = subscriptions_[(next_ + i) % subscriptions_.size()];
      std::size_t& busy = inFlight_[subscription.id];
      if (busy >= options_.concurrencyPerTarget) continue;
      ++busy;
      next_ = (next_ + i + 1) % subscriptions_.size();
      lock.unlock();
      worked = deliverOne(subscription);
      lock.lock();
      --inFlight_[subscription.id];
    }
    if (!worked && !stopping_) wake_.wait_for(lock, options_.pollPeriod);
  }
}

std::chrono::milliseconds Outbox::backoff(std::uint32_t attempts) {
  std::int64_t delay = options_.backoffBase.count();
  for (std::uint32_t i = 1; i < attempts && delay < options_.backoffMax.count(); ++i) delay *= 2;
  delay = std::min(delay, static_cast<std::int64_t>(options_.backoffMax.count()));
  // Jitter in [delay/2, delay]: targets that failed together do not retry together.
  std::lock_guard lock(mutex_);
  std::uniform_int_distribution<std::int64_t> spread(delay / 2, delay);
  return std::chrono::milliseconds(spread(random_));
}

void Outbox::record(const WebhookSubscription& subscription, const store::QueueItem& item,
                    const std::string& status, int answered, const std::string& error) {
  auto store = store_.lease();
  if (!store) return;
  json::object event = parseObject(item.payload);
  json::object entry{{"id", item.id},
                     {"subscription", subscription.id},
                     {"topic", event["topic"]},
                     {"event_id", event["event_id"]},
                     {"status", status},
                     {"attempts", item.attempts},
                     {"answered", answered},
                     {"error", error},
                     {"at_ms", plugin_common::nowMs()}};
  Result<store::Document> put = store->put(
      kDeliveries,
      document(item.id, json::serialize(entry), {{"subscription", subscription.id}, {"status", status}}));
  if (!put.ok())
    context_.log().warn("delivery log of " + item.id + " not written: " + put.status().message());
}

bool Outbox::deliverOne(const WebhookSubscription& subscription) {
  auto store = store_.lease();
  if (!store) return false;
  const std::string queue = queueOf(subscription.id);
  Result<std::vector<store::QueueItem>> claimed =
      store->claim(claimRequest(queue, context_.pluginName(), options_.timeout + std::chrono::seconds(30)));
  if (!claimed.ok()) {
    context_.log().warn("claiming from " + queue + ": " + claimed.status().message());
    return false;
  }
  if (claimed->empty()) return false;
  store::QueueItem item = std::move(claimed->front());
  json::object event = parseObject(item.payload);
  std::error_code ec;
  json::value inner = json::parse(event["payload"].is_string() ? event["payload"].as_string() : "", ec);
  json::object body{{"id", item.id},
                    {"subscription", subscription.id},
                    {"topic", event["topic"]},
                    {"event_id", event["event_id"]},
                    {"timestamp_ms", event["timestamp_ms"]},
                    {"event", ec ? event["payload"] : inner}};
  std::string text = json::serialize(body);
  std::int64_t now = plugin_common::nowMs() / 1000;
  std::string secret = hmacSha256Hex(options_.signingKey, subscription.id);
  std::vector<http::Header> headers{
      {"X-Hive-Timestamp", std::to_string(now)},
      {"X-Hive-Signature", signGeneric(secret, now, text)},
      {"X-Hive-Delivery", item.id},
      {"X-Hive-Subscription", subscription.id},
      {"X-Hive-Topic", event["topic"].is_string() ? std::string(event["topic"].as_string()) : ""},
      {"X-Hive-Attempt", std::to_string(item.attempts)}};
  Result<int> answered = post(subscription.target,
                              options_.allowPrivateTargets ? AddressPolicy::kAny : AddressPolicy::kPublicOnly,
                              headers, text, options_.timeout, options_.caFile);
  if (answered.ok() && *answered >= 200 && *answered < 300) {
    if (Status done = store->complete(queue, item.id, item.leaseToken); !done.ok())
      context_.log().warn("delivered " + item.id + " but not completed: " + done.message());
    delivered_.increment();
    record(subscription, item, "delivered", *answered, "");
    return true;
  }
  failed_.increment();
  std::string error = !answered.ok() ? answered.status().message()
                      : *answered >= 300 && *answered < 400
                          ? "answered " + std::to_string(*answered) + " (redirects are not followed)"
                          : "answered " + std::to_string(*answered);
  int code = answered.ok() ? *answered : 0;
  if (item.attempts >= options_.maxAttempts) {
    json::object letter{{"id", item.id},           {"subscription", subscription.id},
                        {"topic", event["topic"]}, {"event_id", event["event_id"]},
                        {"event", item.payload},   {"attempts", item.attempts},
                        {"error", error},          {"at_ms", plugin_common::nowMs()}};
    Status moved = store->transact([&](store::Transaction& transaction) -> Status {
      HIVE_TRY(transaction
                   .put(kDeadLetters,
                        document(item.id, json::serialize(letter), {{"subscription", subscription.id}}))
                   .status());
      return transaction.complete(queue, item.id, item.leaseToken);
    });
    if (!moved.ok()) {
      context_.log().warn("dead letter " + item.id + " not written: " + moved.message());
      return true;
    }
    dead_.increment();
    context_.log().warn("webhook delivery " + item.id + " to subscription " + subscription.id +
                        " dead-lettered after " + std::to_string(item.attempts) + " attempts: " + error);
    record(subscription, item, "dead", code, error);
    return true;
  }
  if (Status retried = store->fail(queue, item.id, item.leaseToken, backoff(item.attempts), error);
      !retried.ok())
    context_.log().warn("delivery " + item.id + " not rescheduled: " + retried.message());
  record(subscription, item, "retrying", code, error);
  return true;
}

}  // namespace hive::integration_engine
