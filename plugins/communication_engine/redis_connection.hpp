// One Redis connection: hiredis's async context driven by Asio on the kernel's
// io_context (a stream_descriptor on the context's socket, through hiredis's
// ev hooks), with every hiredis call on one strand.
//
// - Commands submitted from any thread are queued and written together
//   (pipelining); replies complete them in order.
// - When the connection drops it reconnects with exponential backoff.
//   Commands marked Retry::kAfterReconnect (publishes and appends) wait in a
//   bounded buffer meanwhile, and those in flight when it dropped are sent again
//   (at-least-once); submit() refuses them with kResourceExhausted when the
//   buffer is full. Other commands fail fast with kUnavailable.
// - stop() closes the connection, fails what is queued, and returns only when no
//   handler of this connection is scheduled or running.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "bus_metrics.hpp"
#include "config.hpp"
#include "hive/log.hpp"
#include "hive/status.hpp"
#include "redis_reply.hpp"

struct redisAsyncContext;

namespace hive::communication_engine {

class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
 public:
  enum class Retry { kNever, kAfterReconnect };
  // Runs on the connection's strand: must not block.
  using Completion = std::function<void(Result<RedisReply>)>;

  struct Options {
    std::string name;  // for log lines: "main", "subscriber", "blocking-3"
    RedisEndpoint endpoint;
    std::size_t buffer = 10'000;  // Retry::kAfterReconnect commands queued or in flight
    std::chrono::milliseconds connectTimeout{5'000};
    std::chrono::milliseconds reconnectInitial{50};
    std::chrono::milliseconds reconnectMax{2'000};
    // Subscriber connections only: called on the strand after each (re)connect,
    // and for every pub/sub message.
    std::vector<std::string> subscribePatterns;
    std::function<void(RedisReply)> onMessage;
    Gauge* bufferedGauge = nullptr;  // reports the buffer's fill when set
    // Lua scripts SCRIPT LOADed on each (re)connect before any queued command, so
    // that EVALSHA works even on a restarted server.
    std::vector<std::string> scripts;
  };

  // A submitted command; cancel() takes it back while it is still queued.
  class Ticket;

  static std::shared_ptr<RedisConnection> create(boost::asio::io_context& io, Options options, Logger& log,
                                                 std::shared_ptr<BusMetrics> metrics);
  ~RedisConnection();

  void start();
  void stop();

  Status submit(std::vector<std::string> args, Retry retry, Completion completion,
                std::shared_ptr<Ticket>* ticket = nullptr);
  // True when the command was still queued: it will never be sent.
  bool cancel(const std::shared_ptr<Ticket>& ticket);

  // Submits and waits for the reply (on the caller's thread). On timeout a
  // command still queued is withdrawn (kUnavailable: not executed); one already
  // sent gives kDeadlineExceeded (outcome unknown). A Redis error reply becomes
  // a Status (see statusOfError).
  Result<RedisReply> call(std::vector<std::string> args, Retry retry, std::chrono::milliseconds timeout);

  bool connected() const { return connected_.load(); }
  // Waits up to `timeout` for the first connection.
  bool waitConnected(std::chrono::milliseconds timeout);

 private:
  RedisConnection(boost::asio::io_context& io, Options options, Logger& log,
                  std::shared_ptr<BusMetrics> metrics);

  struct Command;
  class LiveToken;
  LiveToken token();

  // All below run on the strand.
  void connect();
  void scheduleReconnect();
  void onConnected(int status);
  void onSetupDone();
  // Connected: commands flow, waitConnected() returns. A subscriber connection
  // is connected once Redis confirmed each PSUBSCRIBE, so that an event
  // published after start() on another connection is not missed.
  void markConnected();
  void onDisconnected();
  void onReply(void* reply, void* privdata);
  void flush();
  void scheduleFlush();
  void close();
  void failCommands(std::deque<std::shared_ptr<Command>>& commands, const Status& status);
  void complete(const std::shared_ptr<Command>& command, Result<RedisReply> result);
  void updateGauge();

  // hiredis ev hooks
  void addRead();
  void delRead();
  void addWrite();
  void delWrite();
  void cleanup();
  void armRead();
  void armWrite();

  static void replyCallback(redisAsyncContext* context, void* reply, void* privdata);
  static void setupCallback(redisAsyncContext* context, void* reply, void* privdata);
  static void messageCallback(redisAsyncContext* context, void* reply, void* privdata);
  static void connectCallback(const redisAsyncContext* context, int status);
  static void disconnectCallback(const redisAsyncContext* context, int status);

  boost::asio::io_context& io_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  const Options options_;
  Logger& log_;
  std::shared_ptr<BusMetrics> metrics_;

  // Strand-only state.
  redisAsyncContext* context_ = nullptr;
  std::uint64_t epoch_ = 0;  // bumps with each context, so stale socket waits are ignored
  std::unique_ptr<boost::asio::posix::stream_descriptor> socket_;
  bool reading_ = false, writing_ = false, readArmed_ = false, writeArmed_ = false;
  bool ready_ = false;                 // connected and set up: commands may be written
  int setupPending_ = 0;               // AUTH / SELECT replies still expected
  std::size_t subscribesPending_ = 0;  // PSUBSCRIBE confirmations still expected
  bool everConnected_ = false;
  std::chrono::milliseconds backoff_;
  boost::asio::steady_timer reconnectTimer_;
  boost::asio::steady_timer connectTimer_;
  std::deque<std::shared_ptr<Command>> lostInFlight_;

  // Shared with submitting threads.
  mutable std::mutex mutex_;
  std::condition_variable connectedChanged_;
  std::deque<std::shared_ptr<Command>> queued_;
  std::deque<std::shared_ptr<Command>> inFlight_;
  std::size_t retryable_ = 0;
  bool flushScheduled_ = false;
  bool stopping_ = false;
  std::atomic<bool> connected_{false};
  std::atomic<int> live_{0};
};

// Maps a Redis error reply to a Status: NOGROUP -> kNotFound, OUTOFRANGE ->
// kOutOfRange, NOTPENDING -> kNotFound, anything else kInternal.
Status statusOfError(const std::string& error);

}  // namespace hive::communication_engine
