#include "redis_connection.hpp"

#include <future>
#include <optional>
#include <thread>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

namespace hive::communication_engine {

struct RedisConnection::Command {
  enum class State { kQueued, kSent, kDone, kCancelled };
  std::vector<std::string> args;
  Retry retry = Retry::kNever;
  Completion completion;
  State state = State::kQueued;  // guarded by mutex_
};

class RedisConnection::Ticket {
 public:
  explicit Ticket(std::shared_ptr<Command> command) : command(std::move(command)) {}
  std::shared_ptr<Command> command;
};

// Counts handlers of this connection that are scheduled or running: stop()
// waits for none to be left.
class RedisConnection::LiveToken {
 public:
  explicit LiveToken(std::atomic<int>& live) : live_(&live) { live_->fetch_add(1); }
  LiveToken(const LiveToken& other) : live_(other.live_) { live_->fetch_add(1); }
  LiveToken(LiveToken&& other) noexcept : live_(other.live_) { live_->fetch_add(1); }
  LiveToken& operator=(const LiveToken&) = delete;
  ~LiveToken() { live_->fetch_sub(1); }

 private:
  std::atomic<int>* live_;
};

Status statusOfError(const std::string& error) {
  auto has = [&](std::string_view code) { return error.find(code) != std::string::npos; };
  if (has("NOGROUP")) return notFound("no such stream or group (" + error + ")");
  if (has("NOTPENDING")) return notFound(error.substr(error.find("NOTPENDING") + 11));
  if (has("OUTOFRANGE")) return Status(StatusCode::kOutOfRange, error.substr(error.find("OUTOFRANGE") + 11));
  if (has("NOAUTH") || has("WRONGPASS")) return Status(StatusCode::kUnauthenticated, "Redis: " + error);
  return internalError("Redis: " + error);
}

std::shared_ptr<RedisConnection> RedisConnection::create(boost::asio::io_context& io, Options options,
                                                         Logger& log, std::shared_ptr<BusMetrics> metrics) {
  return std::shared_ptr<RedisConnection>(
      new RedisConnection(io, std::move(options), log, std::move(metrics)));
}

RedisConnection::RedisConnection(boost::asio::io_context& io, Options options, Logger& log,
                                 std::shared_ptr<BusMetrics> metrics)
    : io_(io),
      strand_(boost::asio::make_strand(io)),
      options_(std::move(options)),
      log_(log),
      metrics_(std::move(metrics)),
      backoff_(options_.reconnectInitial),
      reconnectTimer_(strand_),
      connectTimer_(strand_) {}

RedisConnection::~RedisConnection() = default;

RedisConnection::LiveToken RedisConnection::token() { return LiveToken(live_); }

void RedisConnection::start() {
  boost::asio::post(strand_, [self = shared_from_this(), t = token()] { self->connect(); });
}

void RedisConnection::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  auto closed = std::make_shared<std::promise<void>>();
  auto done = closed->get_future();
  boost::asio::post(strand_, [self = shared_from_this(), t = token(), closed] {
    self->close();
    closed->set_value();
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  if (done.wait_until(deadline) != std::future_status::ready) {
    log_.error("redis " + options_.name + ": the I/O threads did not run the close in 10s");
    return;
  }
  while (live_.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (live_.load() > 0) log_.error("redis " + options_.name + ": handlers still pending after stop");
}

bool RedisConnection::waitConnected(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return connectedChanged_.wait_for(lock, timeout, [&] { return connected_.load() || stopping_; }) &&
         connected_.load();
}

// ---- submitting (any thread)

Status RedisConnection::submit(std::vector<std::string> args, Retry retry, Completion completion,
                               std::shared_ptr<Ticket>* ticket) {
  auto command = std::make_shared<Command>();
  command->args = std::move(args);
  command->retry = retry;
  command->completion = std::move(completion);
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return unavailable("the bus is stopping");
    if (retry == Retry::kNever && !connected_)
      return unavailable("Redis at " + options_.endpoint.redacted() + " is not connected");
    if (retry == Retry::kAfterReconnect) {
      if (retryable_ >= options_.buffer)
        return resourceExhausted("Redis buffer full: " + std::to_string(retryable_) +
                                 " publishes/appends wait for " + options_.endpoint.redacted());
      ++retryable_;
    }
    queued_.push_back(command);
    if (ticket != nullptr) *ticket = std::make_shared<Ticket>(command);
    if (connected_ && !flushScheduled_) {
      flushScheduled_ = true;
      boost::asio::post(strand_, [self = shared_from_this(), t = token()] { self->flush(); });
    }
  }
  updateGauge();
  return okStatus();
}

bool RedisConnection::cancel(const std::shared_ptr<Ticket>& ticket) {
  if (!ticket) return false;
  {
    std::lock_guard lock(mutex_);
    auto& command = ticket->command;
    if (command->state != Command::State::kQueued) return false;
    std::erase(queued_, command);
    std::erase(lostInFlight_, command);
    command->state = Command::State::kCancelled;
    if (command->retry == Retry::kAfterReconnect) --retryable_;
  }
  updateGauge();
  return true;
}

Result<RedisReply> RedisConnection::call(std::vector<std::string> args, Retry retry,
                                         std::chrono::milliseconds timeout) {
  struct Waiter {
    std::mutex mutex;
    std::condition_variable ready;
    std::optional<Result<RedisReply>> result;
  };
  auto waiter = std::make_shared<Waiter>();
  std::shared_ptr<Ticket> ticket;
  HIVE_TRY(submit(
      std::move(args), retry,
      [waiter](Result<RedisReply> result) {
        {
          std::lock_guard lock(waiter->mutex);
          waiter->result.emplace(std::move(result));
        }
        waiter->ready.notify_all();
      },
      &ticket));
  std::unique_lock lock(waiter->mutex);
  if (!waiter->ready.wait_for(lock, timeout, [&] { return waiter->result.has_value(); })) {
    lock.unlock();
    if (cancel(ticket))
      return unavailable("Redis at " + options_.endpoint.redacted() + " unreachable for " +
                         std::to_string(timeout.count()) + "ms: not executed");
    lock.lock();
    if (!waiter->result.has_value())
      return deadlineExceeded("no reply from Redis within " + std::to_string(timeout.count()) +
                              "ms: the command may have run");
  }
  Result<RedisReply> result = std::move(*waiter->result);
  if (result.ok() && result->isError()) return statusOfError(result->text);
  return result;
}

void RedisConnection::updateGauge() {
  if (options_.bufferedGauge == nullptr) return;
  std::size_t count;
  {
    std::lock_guard lock(mutex_);
    count = retryable_;
  }
  options_.bufferedGauge->set(static_cast<double>(count));
}

// ---- connection life (strand)

void RedisConnection::connect() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
  }
  const RedisEndpoint& endpoint = options_.endpoint;
  redisAsyncContext* context = redisAsyncConnect(endpoint.host.c_str(), endpoint.port);
  if (context == nullptr) {
    log_.error("redis " + options_.name + ": out of memory creating a connection");
    scheduleReconnect();
    return;
  }
  if (context->err != 0) {
    log_.debug("redis " + options_.name + ": cannot connect to " + endpoint.redacted() + ": " +
               context->errstr);
    redisAsyncFree(context);
    scheduleReconnect();
    return;
  }
  context_ = context;
  ++epoch_;
  reading_ = writing_ = readArmed_ = writeArmed_ = false;
  ready_ = false;
  context->data = this;
  socket_ = std::make_unique<boost::asio::posix::stream_descriptor>(strand_, context->c.fd);
  context->ev.data = this;
  context->ev.addRead = [](void* self) { static_cast<RedisConnection*>(self)->addRead(); };
  context->ev.delRead = [](void* self) { static_cast<RedisConnection*>(self)->delRead(); };
  context->ev.addWrite = [](void* self) { static_cast<RedisConnection*>(self)->addWrite(); };
  context->ev.delWrite = [](void* self) { static_cast<RedisConnection*>(self)->delWrite(); };
  context->ev.cleanup = [](void* self) { static_cast<RedisConnection*>(self)->cleanup(); };
  redisAsyncSetConnectCallback(context, &RedisConnection::connectCallback);
  redisAsyncSetDisconnectCallback(context, &RedisConnection::disconnectCallback);

  connectTimer_.expires_after(options_.connectTimeout);
  connectTimer_.async_wait(boost::asio::bind_executor(
      strand_,
      [self = shared_from_this(), t = token(), epoch = epoch_](const boost::system::error_code& error) {
        if (error || epoch != self->epoch_ || self->ready_ || self->context_ == nullptr) return;
        self->log_.warn("redis " + self->options_.name + ": no connection to " +
                        self->options_.endpoint.redacted() + " within " +
                        std::to_string(self->options_.connectTimeout.count()) + "ms");
        redisAsyncContext* stale = self->context_;
        redisAsyncFree(stale);
        if (self->context_ == stale) {  // freed before it connected: no disconnect callback
          self->context_ = nullptr;
          self->onDisconnected();
        }
      }));
}

void RedisConnection::scheduleReconnect() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
  }
  auto delay = backoff_;
  backoff_ = std::min(backoff_ * 2, options_.reconnectMax);
  reconnectTimer_.expires_after(delay);
  reconnectTimer_.async_wait(boost::asio::bind_executor(
      strand_, [self = shared_from_this(), t = token()](const boost::system::error_code& error) {
        if (!error) self->connect();
      }));
}

void RedisConnection::connectCallback(const redisAsyncContext* context, int status) {
  static_cast<RedisConnection*>(context->data)->onConnected(status);
}

void RedisConnection::disconnectCallback(const redisAsyncContext* context, int status) {
  auto* self = static_cast<RedisConnection*>(context->data);
  bool stopping;
  {
    std::lock_guard lock(self->mutex_);
    stopping = self->stopping_;
  }
  if (status != REDIS_OK && !stopping)
    self->log_.warn("redis " + self->options_.name + ": lost the connection to " +
                    self->options_.endpoint.redacted() + ": " + context->errstr);
  self->context_ = nullptr;
  self->onDisconnected();
}

void RedisConnection::onConnected(int status) {
  if (status != REDIS_OK) {
    // hiredis frees the context once this returns.
    log_.debug("redis " + options_.name + ": cannot connect to " + options_.endpoint.redacted() + ": " +
               context_->errstr);
    context_ = nullptr;
    onDisconnected();
    return;
  }
  setupPending_ = 0;
  auto send = [&](std::vector<std::string> args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    redisAsyncCommandArgv(context_, &RedisConnection::setupCallback, nullptr, static_cast<int>(argv.size()),
                          argv.data(), lengths.data());
    ++setupPending_;
  };
  if (!options_.endpoint.password.empty()) send({"AUTH", options_.endpoint.password});
  if (options_.endpoint.database != 0) send({"SELECT", std::to_string(options_.endpoint.database)});
  for (const auto& script : options_.scripts) send({"SCRIPT", "LOAD", script});
  if (setupPending_ == 0) onSetupDone();
}

void RedisConnection::setupCallback(redisAsyncContext* context, void* reply, void*) {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (reply == nullptr) return;  // the connection is going away
  auto* r = static_cast<redisReply*>(reply);
  if (r->type == REDIS_REPLY_ERROR) {
    // Redis's error text never holds the password.
    self->log_.error("redis " + self->options_.name + ": connection setup refused by " +
                     self->options_.endpoint.redacted() + ": " + std::string(r->str, r->len));
    redisAsyncDisconnect(context);
    return;
  }
  if (--self->setupPending_ == 0) self->onSetupDone();
}

void RedisConnection::onSetupDone() {
  connectTimer_.cancel();
  ready_ = true;
  if (everConnected_) {
    metrics_->reconnects.increment();
    log_.info("redis " + options_.name + ": reconnected to " + options_.endpoint.redacted());
  } else {
    log_.debug("redis " + options_.name + ": connected to " + options_.endpoint.redacted());
  }
  everConnected_ = true;
  backoff_ = options_.reconnectInitial;
  subscribesPending_ = options_.subscribePatterns.size();
  for (const auto& pattern : options_.subscribePatterns) {
    const char* argv[] = {"PSUBSCRIBE", pattern.data()};
    std::size_t lengths[] = {10, pattern.size()};
    redisAsyncCommandArgv(context_, &RedisConnection::messageCallback, nullptr, 2, argv, lengths);
  }
  if (subscribesPending_ == 0) markConnected();
}

void RedisConnection::markConnected() {
  {
    std::lock_guard lock(mutex_);
    connected_ = true;
    flushScheduled_ = false;
  }
  connectedChanged_.notify_all();
  flush();
}

void RedisConnection::onDisconnected() {
  ready_ = false;
  connectTimer_.cancel();
  std::deque<std::shared_ptr<Command>> failed;
  bool stopping;
  {
    std::lock_guard lock(mutex_);
    connected_ = false;
    stopping = stopping_;
    // In-flight commands were answered with null replies (onReply) before this.
    for (auto it = lostInFlight_.rbegin(); it != lostInFlight_.rend(); ++it) queued_.push_front(*it);
    lostInFlight_.clear();
    for (auto it = queued_.begin(); it != queued_.end();) {
      if ((*it)->retry == Retry::kNever || stopping) {
        failed.push_back(*it);
        it = queued_.erase(it);
      } else {
        ++it;
      }
    }
  }
  connectedChanged_.notify_all();
  failCommands(failed, unavailable("connection to Redis at " + options_.endpoint.redacted() + " lost"));
  if (!stopping) scheduleReconnect();
}

void RedisConnection::failCommands(std::deque<std::shared_ptr<Command>>& commands, const Status& status) {
  for (auto& command : commands) complete(command, status);
  commands.clear();
}

void RedisConnection::complete(const std::shared_ptr<Command>& command, Result<RedisReply> result) {
  {
    std::lock_guard lock(mutex_);
    if (command->state == Command::State::kCancelled || command->state == Command::State::kDone) return;
    command->state = Command::State::kDone;
    if (command->retry == Retry::kAfterReconnect) --retryable_;
  }
  updateGauge();
  if (command->completion) command->completion(std::move(result));
}

void RedisConnection::flush() {
  {
    std::lock_guard lock(mutex_);
    flushScheduled_ = false;
  }
  if (!ready_ || context_ == nullptr) return;
  std::deque<std::shared_ptr<Command>> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(queued_);
    for (auto& command : batch) {
      command->state = Command::State::kSent;
      inFlight_.push_back(command);
    }
  }
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (auto& command : batch) {
    argv.clear();
    lengths.clear();
    for (const auto& a : command->args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    int sent = context_ == nullptr
                   ? REDIS_ERR
                   : redisAsyncCommandArgv(context_, &RedisConnection::replyCallback, command.get(),
                                           static_cast<int>(argv.size()), argv.data(), lengths.data());
    if (sent != REDIS_OK) {
      // The context is going away: the command never left.
      std::lock_guard lock(mutex_);
      std::erase(inFlight_, command);
      command->state = Command::State::kQueued;
      lostInFlight_.push_back(command);
    }
  }
}

void RedisConnection::replyCallback(redisAsyncContext* context, void* reply, void* privdata) {
  static_cast<RedisConnection*>(context->data)->onReply(reply, privdata);
}

void RedisConnection::onReply(void* reply, void* privdata) {
  std::shared_ptr<Command> command;
  {
    std::lock_guard lock(mutex_);
    if (inFlight_.empty() || inFlight_.front().get() != privdata) {
      log_.error("redis " + options_.name + ": a reply matched no command in flight");
      return;
    }
    command = inFlight_.front();
    inFlight_.pop_front();
    if (reply == nullptr && command->retry == Retry::kAfterReconnect && !stopping_) {
      command->state = Command::State::kQueued;  // sent again after the reconnect
      lostInFlight_.push_back(command);
      return;
    }
  }
  if (reply == nullptr) {
    complete(command, unavailable("connection to Redis lost before the reply: the command may have run"));
    return;
  }
  complete(command, RedisReply::from(*static_cast<redisReply*>(reply)));
}

void RedisConnection::messageCallback(redisAsyncContext* context, void* reply, void*) {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (reply == nullptr) return;
  const auto* raw = static_cast<redisReply*>(reply);
  if (raw->type == REDIS_REPLY_ARRAY && raw->elements >= 1 && raw->element[0]->type == REDIS_REPLY_STRING &&
      std::string_view(raw->element[0]->str, raw->element[0]->len) == "psubscribe") {
    if (self->subscribesPending_ > 0 && --self->subscribesPending_ == 0) self->markConnected();
    return;
  }
  if (!self->options_.onMessage) return;
  self->options_.onMessage(RedisReply::from(*static_cast<redisReply*>(reply)));
}

void RedisConnection::close() {
  reconnectTimer_.cancel();
  connectTimer_.cancel();
  if (context_ != nullptr) {
    redisAsyncContext* context = context_;
    redisAsyncFree(context);  // null replies for what is in flight, then the disconnect callback
    if (context_ == context) {
      context_ = nullptr;
      onDisconnected();
    }
  }
  std::deque<std::shared_ptr<Command>> rest;
  {
    std::lock_guard lock(mutex_);
    rest.swap(queued_);
    for (auto& c : lostInFlight_) rest.push_back(c);
    lostInFlight_.clear();
  }
  failCommands(rest, unavailable("the bus stopped"));
}

// ---- hiredis ev hooks (strand)

void RedisConnection::addRead() {
  reading_ = true;
  armRead();
}

void RedisConnection::delRead() { reading_ = false; }

void RedisConnection::addWrite() {
  writing_ = true;
  armWrite();
}

void RedisConnection::delWrite() { writing_ = false; }

void RedisConnection::cleanup() {
  reading_ = writing_ = readArmed_ = writeArmed_ = false;
  ++epoch_;
  if (socket_) {
    socket_->release();  // hiredis closes the descriptor; pending waits end with operation_aborted
    socket_.reset();
  }
}

void RedisConnection::armRead() {
  if (readArmed_ || !socket_) return;
  readArmed_ = true;
  socket_->async_wait(
      boost::asio::posix::stream_descriptor::wait_read,
      boost::asio::bind_executor(strand_, [self = shared_from_this(), t = token(),
                                           epoch = epoch_](const boost::system::error_code& error) {
        if (epoch != self->epoch_) return;
        self->readArmed_ = false;
        if (error || !self->reading_ || self->context_ == nullptr) return;
        redisAsyncHandleRead(self->context_);
        if (epoch == self->epoch_ && self->reading_ && self->context_ != nullptr) self->armRead();
      }));
}

void RedisConnection::armWrite() {
  if (writeArmed_ || !socket_) return;
  writeArmed_ = true;
  socket_->async_wait(
      boost::asio::posix::stream_descriptor::wait_write,
      boost::asio::bind_executor(strand_, [self = shared_from_this(), t = token(),
                                           epoch = epoch_](const boost::system::error_code& error) {
        if (epoch != self->epoch_) return;
        self->writeArmed_ = false;
        if (error || !self->writing_ || self->context_ == nullptr) return;
        redisAsyncHandleWrite(self->context_);
        if (epoch == self->epoch_ && self->writing_ && self->context_ != nullptr) self->armWrite();
      }));
}

}  // namespace hive::communication_engine
