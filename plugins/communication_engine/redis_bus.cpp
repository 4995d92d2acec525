#include "redis_bus.hpp"

#include <cstdio>
#include <optional>

#include <boost/uuid/detail/sha1.hpp>

#include "redis_scripts.hpp"

namespace hive::communication_engine {
namespace {

constexpr std::size_t kMaxBatch = 10'000;  // ids per ack/replay call, messages per read

Status checkStreamAndGroup(std::string_view stream, std::string_view group) {
  HIVE_TRY(checkTopic(stream, "stream"));
  HIVE_TRY(checkLabel(group, "group"));
  return okStatus();
}

// A topic glob ('*' only) as an anchored Lua pattern.
std::string luaPattern(std::string_view glob) {
  std::string out = "^";
  for (char c : glob) {
    if (c == '*') {
      out += ".*";
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      out += c;
    } else {
      out += '%';
      out += c;
    }
  }
  return out + "$";
}

std::string fieldOf(const RedisReply& fields, std::string_view name) {
  for (std::size_t i = 0; i + 1 < fields.elements.size(); i += 2)
    if (fields.elements[i].text == name) return fields.elements[i + 1].text;
  return {};
}

std::uint32_t toCount(const RedisReply& reply) {
  if (reply.type == RedisReply::Type::kInteger) return static_cast<std::uint32_t>(reply.integer);
  return static_cast<std::uint32_t>(std::strtoul(reply.text.c_str(), nullptr, 10));
}

Status malformed(std::string_view what) {
  return internalError("unexpected reply from Redis to " + std::string(what));
}

}  // namespace

RedisBus::RedisBus(boost::asio::io_context& io, const BusConfig& config, Logger& log,
                   std::shared_ptr<BusMetrics> metrics)
    : io_(io),
      config_(config),
      prefix_(config.redis.prefix),
      log_(log),
      metrics_(std::move(metrics)),
      dispatcher_(config.dispatchQueue, log, metrics_->callbackErrors),
      publishScript_(makeScript(scripts::kPublish)),
      replayScript_(makeScript(scripts::kReplay)),
      createGroupScript_(makeScript(scripts::kCreateGroup)),
      claimIdleScript_(makeScript(scripts::kClaimIdle)),
      deadLetterScript_(makeScript(scripts::kDeadLetter)),
      deadLettersScript_(makeScript(scripts::kDeadLetters)),
      replayDeadLettersScript_(makeScript(scripts::kReplayDeadLetters)),
      trimScript_(makeScript(scripts::kTrim)) {}

RedisBus::Script RedisBus::makeScript(const char* source) {
  Script script;
  script.body = std::string(scripts::kHelpers) + scripts::kMoveHelper + source;
  boost::uuids::detail::sha1 hash;
  hash.process_bytes(script.body.data(), script.body.size());
  boost::uuids::detail::sha1::digest_type digest;
  hash.get_digest(digest);
  char hex[41];
  for (int i = 0; i < 5; ++i) std::snprintf(hex + 8 * i, 9, "%08x", digest[i]);
  script.sha.assign(hex, 40);
  return script;
}

RedisBus::~RedisBus() { stop(); }

Status RedisBus::start() {
  const RedisSettings& settings = config_.redis;
  RedisConnection::Options main;
  main.name = "main";
  main.endpoint = settings.endpoint;
  main.buffer = settings.buffer;
  main.connectTimeout = settings.commandTimeout;
  main.reconnectInitial = settings.reconnectInitial;
  main.reconnectMax = settings.reconnectMax;
  main.bufferedGauge = &metrics_->buffered;
  RedisConnection::Options subscriber = main;
  main.scripts = {publishScript_.body,           replayScript_.body,     createGroupScript_.body,
                  claimIdleScript_.body,         deadLetterScript_.body, deadLettersScript_.body,
                  replayDeadLettersScript_.body, trimScript_.body};
  subscriber.name = "subscriber";
  subscriber.bufferedGauge = nullptr;
  subscriber.subscribePatterns = {prefix_ + "ev:*"};
  subscriber.onMessage = [this](RedisReply message) { onMessage(std::move(message)); };

  dispatcher_.start();
  main_ = RedisConnection::create(io_, std::move(main), log_, metrics_);
  subscriber_ = RedisConnection::create(io_, std::move(subscriber), log_, metrics_);
  main_->start();
  subscriber_->start();
  // Startup waits a little for Redis, never long: the bus works (buffering) without it.
  auto startWait = std::min(settings.commandTimeout, std::chrono::milliseconds(2'000));
  if (!main_->waitConnected(startWait) || !subscriber_->waitConnected(startWait)) {
    log_.warn("bus: Redis at " + settings.endpoint.redacted() +
              " is not reachable yet; publishes and appends are buffered (up to " +
              std::to_string(settings.buffer) + ") until it is");
  } else {
    log_.info("bus: redis transport at " + settings.endpoint.redacted() + ", prefix '" + prefix_ + "'");
  }
  return okStatus();
}

void RedisBus::stop() {
  std::vector<std::shared_ptr<RedisConnection>> pool;
  {
    std::lock_guard lock(poolMutex_);
    if (stopped_) return;
    stopped_ = true;
    pool.swap(all_);
    idle_.clear();
  }
  poolChanged_.notify_all();
  // The subscriber first: no message arrives for a stopped dispatcher.
  if (subscriber_) subscriber_->stop();
  dispatcher_.stop();
  for (auto& connection : pool) connection->stop();
  if (main_) main_->stop();
}

Status RedisBus::checkPayload(std::string_view payload) const {
  if (payload.size() > config_.maxPayload)
    return invalidArgument("payload of " + std::to_string(payload.size()) + " bytes is over the limit of " +
                           std::to_string(config_.maxPayload));
  return okStatus();
}

Result<RedisReply> RedisBus::call(std::vector<std::string> args) {
  return main_->call(std::move(args), RedisConnection::Retry::kNever, config_.redis.commandTimeout);
}

Result<RedisReply> RedisBus::script(const Script& script, std::vector<std::string> keys,
                                    std::vector<std::string> args) {
  std::vector<std::string> command;
  command.reserve(3 + keys.size() + args.size());
  command.push_back("EVALSHA");
  command.push_back(script.sha);
  command.push_back(std::to_string(keys.size()));
  for (auto& k : keys) command.push_back(std::move(k));
  for (auto& a : args) command.push_back(std::move(a));
  auto reply = call(command);
  if (!reply.ok() && reply.status().message().find("NOSCRIPT") != std::string::npos) {
    // Someone ran SCRIPT FLUSH: send the body this once (it is cached again).
    command[0] = "EVAL";
    command[1] = script.body;
    return call(std::move(command));
  }
  return reply;
}

// ---- events

Result<std::string> RedisBus::publish(std::string_view topic, std::string_view payload) {
  auto results = publishAll({bus::Outgoing{std::string(topic), std::string(payload)}});
  return std::move(results.front());
}

// Every event is queued on the main connection (pipelined: written together,
// answered in order) before waiting, at most publish_wait, for all the
// answers; one publish() after another waited for each answer in turn.
std::vector<Result<std::string>> RedisBus::publishAll(const std::vector<bus::Outgoing>& events) {
  struct Batch {
    std::mutex mutex;
    std::condition_variable ready;
    std::size_t waiting = 0;
    std::vector<std::optional<Result<RedisReply>>> replies;
  };
  auto batch = std::make_shared<Batch>();
  batch->replies.resize(events.size());
  std::vector<Result<std::string>> out;
  out.reserve(events.size());
  Logger& log = log_;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& [topic, payload] = events[i];
    Status checked = checkTopic(topic);
    if (checked.ok()) checked = checkPayload(payload);
    if (!checked.ok()) {
      out.emplace_back(std::move(checked));
      continue;
    }
    {
      std::lock_guard lock(batch->mutex);
      ++batch->waiting;
    }
    Status queued =
        main_->submit({"EVALSHA", publishScript_.sha, "1", prefix_ + "events",
                       std::to_string(config_.history), topic, payload, prefix_ + "ev:" + topic},
                      RedisConnection::Retry::kAfterReconnect, [batch, i, &log](Result<RedisReply> result) {
                        if (!result.ok() || result->isError())
                          log.warn("bus: a buffered publish failed: " +
                                   (result.ok() ? result->text : result.status().toString()));
                        bool last = false;
                        {
                          std::lock_guard lock(batch->mutex);
                          batch->replies[i].emplace(std::move(result));
                          last = --batch->waiting == 0;
                        }
                        if (last) batch->ready.notify_all();
                      });
    if (!queued.ok()) {
      {
        std::lock_guard lock(batch->mutex);
        --batch->waiting;
      }
      if (queued.code() == StatusCode::kResourceExhausted) metrics_->rejected.increment();
      out.emplace_back(std::move(queued));
      continue;
    }
    metrics_->published.increment();
    // Until Redis answers: still buffered, it is sent when Redis answers again.
    out.emplace_back(provisionalIds_.next());
  }
  if (!main_->connected() || config_.redis.publishWait.count() == 0) return out;
  std::vector<std::optional<Result<RedisReply>>> replies;
  {
    std::unique_lock lock(batch->mutex);
    batch->ready.wait_for(lock, config_.redis.publishWait, [&] { return batch->waiting == 0; });
    replies = batch->replies;
  }
  for (std::size_t i = 0; i < events.size(); ++i) {
    // Not answered in time, or lost with the connection (queued again): the provisional id.
    if (!replies[i] || !replies[i]->ok()) continue;
    const RedisReply& reply = **replies[i];
    if (reply.isError() && reply.text.find("NOSCRIPT") != std::string::npos) {
      // Someone ran SCRIPT FLUSH: send the body this once (it is cached again).
      const auto& [topic, payload] = events[i];
      auto retried = main_->call({"EVAL", publishScript_.body, "1", prefix_ + "events",
                                  std::to_string(config_.history), topic, payload, prefix_ + "ev:" + topic},
                                 RedisConnection::Retry::kAfterReconnect, config_.redis.commandTimeout);
      out[i] = retried.ok() ? Result<std::string>(std::move(retried->text))
                            : Result<std::string>(retried.status());
    } else if (reply.isError()) {
      out[i] = statusOfError(reply.text);
    } else {
      out[i] = reply.text;
    }
  }
  return out;
}

std::unique_ptr<Subscription> RedisBus::subscribe(std::string pattern,
                                                  std::function<void(const bus::Event&)> callback) {
  if (!checkPattern(pattern).ok() || !callback) return nullptr;
  return dispatcher_.subscribe(std::move(pattern), std::move(callback));
}

void RedisBus::onMessage(RedisReply message) {
  // ["pmessage", pattern, channel, "<id> <payload>"]; subscribe confirmations are skipped.
  if (!message.isArray() || message.elements.size() != 4 || message.elements[0].text != "pmessage") return;
  const std::string channelPrefix = prefix_ + "ev:";
  const std::string& channel = message.elements[2].text;
  std::string& body = message.elements[3].text;
  auto space = body.find(' ');
  if (channel.compare(0, channelPrefix.size(), channelPrefix) != 0 || space == std::string::npos) return;
  bus::Event event;
  event.id = body.substr(0, space);
  if (!isId(event.id)) return;
  event.topic = channel.substr(channelPrefix.size());
  event.payload = body.substr(space + 1);
  event.timestampMs = static_cast<std::int64_t>(parseId(event.id).milliseconds);
  if (dispatcher_.subscriptionCount() == 0) return;
  if (!dispatcher_.enqueue(std::move(event))) {
    metrics_->dropped.increment();
    if (static_cast<std::uint64_t>(metrics_->dropped.value()) % 1000 == 1)
      log_.warn("bus: dispatch queue full (" + std::to_string(config_.dispatchQueue) +
                "): events from Redis not delivered; subscribers can replay them");
  }
}

Result<std::vector<bus::Event>> RedisBus::replay(std::string_view pattern, std::string_view afterId,
                                                 std::size_t limit) {
  HIVE_TRY(checkPattern(pattern));
  HIVE_TRY(checkId(afterId));
  limit = std::min(limit, kMaxBatch);
  std::vector<bus::Event> out;
  if (limit == 0) return out;
  RedisReply reply = HIVE_TRY(script(replayScript_, {prefix_ + "events"},
                                     {std::string(afterId), std::to_string(limit), luaPattern(pattern)}));
  for (const auto& e : reply.elements) {
    if (e.elements.size() != 3) return malformed("replay");
    bus::Event event{e.elements[0].text, e.elements[1].text, e.elements[2].text, 0};
    event.timestampMs = static_cast<std::int64_t>(parseId(event.id).milliseconds);
    out.push_back(std::move(event));
  }
  return out;
}

// ---- streams

Result<std::string> RedisBus::append(std::string_view stream, std::string_view payload) {
  HIVE_TRY(checkTopic(stream, "stream"));
  HIVE_TRY(checkPayload(payload));
  auto reply = main_->call({"XADD", streamKey(stream), "*", "p", std::string(payload)},
                           RedisConnection::Retry::kAfterReconnect, config_.redis.commandTimeout);
  if (!reply.ok()) {
    if (reply.status().code() == StatusCode::kResourceExhausted) metrics_->rejected.increment();
    return reply.status();
  }
  if (reply->type != RedisReply::Type::kString) return malformed("XADD");
  metrics_->appended.increment();
  return std::move(reply->text);
}

Status RedisBus::createGroup(std::string_view stream, std::string_view group, bus::GroupOptions options) {
  HIVE_TRY(checkStreamAndGroup(stream, group));
  HIVE_TRY(
      script(createGroupScript_, {streamKey(stream), groupsKey(stream)},
             {std::string(group), options.fromBeginning ? "0" : "$", std::to_string(options.maxDeliveries)}));
  return okStatus();
}

Result<std::shared_ptr<RedisConnection>> RedisBus::acquireBlocking() {
  std::unique_lock lock(poolMutex_);
  auto deadline = std::chrono::steady_clock::now() + config_.redis.commandTimeout;
  for (;;) {
    if (stopped_) return unavailable("the bus stopped");
    if (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      return connection;
    }
    if (all_.size() < config_.redis.blockingConnections) break;
    if (poolChanged_.wait_until(lock, deadline) == std::cv_status::timeout)
      return resourceExhausted("all " + std::to_string(all_.size()) + " blocking Redis connections are busy");
  }
  RedisConnection::Options options;
  options.name = "blocking-" + std::to_string(all_.size() + 1);
  options.endpoint = config_.redis.endpoint;
  options.connectTimeout = config_.redis.commandTimeout;
  options.reconnectInitial = config_.redis.reconnectInitial;
  options.reconnectMax = config_.redis.reconnectMax;
  auto connection = RedisConnection::create(io_, std::move(options), log_, metrics_);
  all_.push_back(connection);
  lock.unlock();
  connection->start();
  if (!connection->waitConnected(config_.redis.commandTimeout)) {
    releaseBlocking(connection);
    return unavailable("Redis at " + config_.redis.endpoint.redacted() + " is not connected");
  }
  return connection;
}

void RedisBus::releaseBlocking(std::shared_ptr<RedisConnection> connection) {
  {
    std::lock_guard lock(poolMutex_);
    if (stopped_) return;
    idle_.push_back(std::move(connection));
  }
  poolChanged_.notify_one();
}

Result<std::vector<bus::StreamMessage>> RedisBus::read(std::string_view stream, std::string_view group,
                                                       std::string_view consumer, std::size_t count,
                                                       std::chrono::milliseconds wait) {
  HIVE_TRY(checkStreamAndGroup(stream, group));
  HIVE_TRY(checkLabel(consumer, "consumer"));
  if (count == 0) return invalidArgument("count must be at least 1");
  count = std::min(count, kMaxBatch);
  std::vector<std::string> command = {"XREADGROUP",          "GROUP", std::string(group),
                                      std::string(consumer), "COUNT", std::to_string(count)};
  if (wait.count() > 0) {
    command.push_back("BLOCK");
    command.push_back(std::to_string(wait.count()));
  }
  command.push_back("STREAMS");
  command.push_back(streamKey(stream));
  command.push_back(">");
  Result<RedisReply> reply = unavailable("not read");
  if (wait.count() > 0) {
    auto connection = HIVE_TRY(acquireBlocking());
    reply = connection->call(std::move(command), RedisConnection::Retry::kNever,
                             wait + config_.redis.commandTimeout);
    releaseBlocking(std::move(connection));
  } else {
    reply = call(std::move(command));
  }
  if (!reply.ok()) return reply.status();
  std::vector<bus::StreamMessage> out;
  if (reply->isNil()) return out;
  // [[key, [[id, [field, value...]]...]]]
  if (!reply->isArray() || reply->elements.size() != 1 || reply->elements[0].elements.size() != 2)
    return malformed("XREADGROUP");
  for (const auto& entry : reply->elements[0].elements[1].elements) {
    if (entry.elements.size() != 2) return malformed("XREADGROUP");
    out.push_back({std::string(stream), entry.elements[0].text, fieldOf(entry.elements[1], "p"), 1});
  }
  return out;
}

Status RedisBus::ack(std::string_view stream, std::string_view group, const std::vector<std::string>& ids) {
  HIVE_TRY(checkStreamAndGroup(stream, group));
  if (ids.size() > kMaxBatch) return invalidArgument("more than " + std::to_string(kMaxBatch) + " ids");
  for (const auto& id : ids) HIVE_TRY(checkId(id));
  if (ids.empty()) return okStatus();
  std::vector<std::string> command = {"XACK", streamKey(stream), std::string(group)};
  command.insert(command.end(), ids.begin(), ids.end());
  HIVE_TRY(call(std::move(command)));
  return okStatus();
}

Result<std::vector<bus::PendingMessage>> RedisBus::pending(std::string_view stream, std::string_view group,
                                                           std::size_t limit) {
  HIVE_TRY(checkStreamAndGroup(stream, group));
  limit = std::min(limit, kMaxBatch);
  std::vector<bus::PendingMessage> out;
  if (limit == 0) return out;
  RedisReply reply =
      HIVE_TRY(call({"XPENDING", streamKey(stream), std::string(group), "-", "+", std::to_string(limit)}));
  for (const auto& p : reply.elements) {
    if (p.elements.size() != 4) return malformed("XPENDING");
    out.push_back({p.elements[0].text, p.elements[1].text, std::chrono::milliseconds(p.elements[2].integer),
                   toCount(p.elements[3])});
  }
  return out;
}

Result<std::vector<bus::StreamMessage>> RedisBus::claimIdle(std::string_view stream, std::string_view group,
                                                            std::string_view consumer,
                                                            std::chrono::milliseconds minIdle,
                                                            std::size_t count) {
  HIVE_TRY(checkStreamAndGroup(stream, group));
  HIVE_TRY(checkLabel(consumer, "consumer"));
  if (count == 0) return invalidArgument("count must be at least 1");
  count = std::min(count, kMaxBatch);
  RedisReply reply = HIVE_TRY(script(
      claimIdleScript_, {streamKey(stream), deadKey(stream), groupsKey(stream)},
      {std::string(group), std::string(consumer), std::to_string(minIdle.count()), std::to_string(count)}));
  if (reply.elements.size() != 2) return malformed("claimIdle");
  std::vector<bus::StreamMessage> out;
  for (const auto& c : reply.elements[0].elements) {
    if (c.elements.size() != 3) return malformed("claimIdle");
    out.push_back({std::string(stream), c.elements[0].text, c.elements[1].text, toCount(c.elements[2])});
  }
  if (reply.elements[1].integer > 0)
    metrics_->deadLettered.increment(static_cast<double>(reply.elements[1].integer));
  return out;
}

Status RedisBus::deadLetter(std::string_view stream, std::string_view group, std::string_view id,
                            std::string_view reason) {
  HIVE_TRY(checkStreamAndGroup(stream, group));
  HIVE_TRY(checkId(id));
  if (reason.size() > 4096) return invalidArgument("reason longer than 4096 characters");
  HIVE_TRY(script(deadLetterScript_, {streamKey(stream), deadKey(stream)},
                  {std::string(group), std::string(id), std::string(reason)}));
  metrics_->deadLettered.increment();
  return okStatus();
}

Result<std::vector<bus::DeadLetter>> RedisBus::deadLetters(std::string_view stream, std::string_view group,
                                                           std::size_t limit) {
  HIVE_TRY(checkStreamAndGroup(stream, group));
  limit = std::min(limit, kMaxBatch);
  std::vector<bus::DeadLetter> out;
  if (limit == 0) return out;
  RedisReply reply =
      HIVE_TRY(script(deadLettersScript_, {deadKey(stream)}, {std::string(group), std::to_string(limit)}));
  for (const auto& e : reply.elements) {
    if (e.elements.size() != 2) return malformed("deadLetters");
    const RedisReply& fields = e.elements[1];
    bus::DeadLetter letter;
    letter.id = e.elements[0].text;
    letter.originalId = fieldOf(fields, "o");
    letter.payload = fieldOf(fields, "p");
    letter.reason = fieldOf(fields, "r");
    letter.deliveries = static_cast<std::uint32_t>(std::strtoul(fieldOf(fields, "d").c_str(), nullptr, 10));
    out.push_back(std::move(letter));
  }
  return out;
}

Result<std::size_t> RedisBus::replayDeadLetters(std::string_view stream, std::string_view group,
                                                const std::vector<std::string>& ids) {
  HIVE_TRY(checkStreamAndGroup(stream, group));
  if (ids.size() > kMaxBatch) return invalidArgument("more than " + std::to_string(kMaxBatch) + " ids");
  for (const auto& id : ids) HIVE_TRY(checkId(id));
  std::vector<std::string> args = {std::string(group)};
  args.insert(args.end(), ids.begin(), ids.end());
  RedisReply reply = HIVE_TRY(script(replayDeadLettersScript_, {streamKey(stream), deadKey(stream)}, args));
  return static_cast<std::size_t>(reply.integer);
}

Result<std::size_t> RedisBus::trim(std::string_view stream, std::size_t maxLength) {
  HIVE_TRY(checkTopic(stream, "stream"));
  RedisReply reply = HIVE_TRY(script(trimScript_, {streamKey(stream)}, {std::to_string(maxLength)}));
  return static_cast<std::size_t>(reply.integer);
}

Status RedisBus::ping() {
  HIVE_TRY(call({"PING"}), "redis ping");
  return okStatus();
}

}  // namespace hive::communication_engine
