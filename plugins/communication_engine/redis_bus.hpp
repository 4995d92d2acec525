// hive.bus/1 on Redis (7.0+), through RedisConnection (hiredis on Asio).
//
// Keys, all under the configured prefix P:
//   P events          stream: the event history (XADD MAXLEN history), fields t, p
//   P ev:<topic>      pub/sub channel: "<id> <payload>" (one PSUBSCRIBE P ev:*)
//   P s:<stream>      stream: messages, field p; consumer groups are Redis groups
//   P s:<stream>.dlq  stream: dead letters, fields g (group), o (original id),
//                     p (payload), r (reason), d (deliveries)
//   P g:<stream>      hash: group -> maxDeliveries
// Multi-step operations (publish, claimIdle, deadLetter, trim, ...) are Lua
// scripts, so each is atomic on the server.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "bus_metrics.hpp"
#include "config.hpp"
#include "event_dispatcher.hpp"
#include "hive/log.hpp"
#include "hive/services/bus.hpp"
#include "hive/services/bus_batch.hpp"
#include "names.hpp"
#include "redis_connection.hpp"

namespace hive::communication_engine {

class RedisBus final : public bus::Bus {
 public:
  RedisBus(boost::asio::io_context& io, const BusConfig& config, Logger& log,
           std::shared_ptr<BusMetrics> metrics);
  ~RedisBus() override;

  // Connects (and keeps reconnecting in the background); does not fail when
  // Redis is away, health() reports it.
  Status start();
  void stop();
  // Before start(): see EventDispatcher::watchWith.
  void watchDispatcher(std::unique_ptr<watchdog::Heartbeat> heartbeat) {
    dispatcher_.watchWith(std::move(heartbeat));
  }
  // Before start(): see EventDispatcher::shareAcrossGenerations.
  void shareSubscribers(ServiceRegistry& services) { dispatcher_.shareAcrossGenerations(services); }

  // hive::bus::Bus
  Result<std::string> publish(std::string_view topic, std::string_view payload) override;
  // hive.bus_batch/1 (the plugin provides it through an adapter): every event
  // handed over before waiting for any.
  std::vector<Result<std::string>> publishAll(const std::vector<bus::Outgoing>& events);
  std::unique_ptr<Subscription> subscribe(std::string pattern,
                                          std::function<void(const bus::Event&)> callback) override;
  Result<std::vector<bus::Event>> replay(std::string_view pattern, std::string_view afterId,
                                         std::size_t limit) override;
  Result<std::string> append(std::string_view stream, std::string_view payload) override;
  Status createGroup(std::string_view stream, std::string_view group, bus::GroupOptions options) override;
  Result<std::vector<bus::StreamMessage>> read(std::string_view stream, std::string_view group,
                                               std::string_view consumer, std::size_t count,
                                               std::chrono::milliseconds wait) override;
  Status ack(std::string_view stream, std::string_view group, const std::vector<std::string>& ids) override;
  Result<std::vector<bus::PendingMessage>> pending(std::string_view stream, std::string_view group,
                                                   std::size_t limit) override;
  Result<std::vector<bus::StreamMessage>> claimIdle(std::string_view stream, std::string_view group,
                                                    std::string_view consumer,
                                                    std::chrono::milliseconds minIdle,
                                                    std::size_t count) override;
  Status deadLetter(std::string_view stream, std::string_view group, std::string_view id,
                    std::string_view reason) override;
  Result<std::vector<bus::DeadLetter>> deadLetters(std::string_view stream, std::string_view group,
                                                   std::size_t limit) override;
  Result<std::size_t> replayDeadLetters(std::string_view stream, std::string_view group,
                                        const std::vector<std::string>& ids) override;
  Result<std::size_t> trim(std::string_view stream, std::size_t maxLength) override;
  Status ping() override;

 private:
  std::string streamKey(std::string_view stream) const { return prefix_ + "s:" + std::string(stream); }
  std::string deadKey(std::string_view stream) const { return streamKey(stream) + ".dlq"; }
  std::string groupsKey(std::string_view stream) const { return prefix_ + "g:" + std::string(stream); }

  Status checkPayload(std::string_view payload) const;
  Result<RedisReply> call(std::vector<std::string> args);
  // A Lua script, run with EVALSHA (every connection loads them when it connects).
  struct Script {
    std::string body;
    std::string sha;
  };
  static Script makeScript(const char* source);
  Result<RedisReply> script(const Script& script, std::vector<std::string> keys,
                            std::vector<std::string> args);
  void onMessage(RedisReply message);
  // A connection of its own for a read that blocks in Redis.
  Result<std::shared_ptr<RedisConnection>> acquireBlocking();
  void releaseBlocking(std::shared_ptr<RedisConnection> connection);

  boost::asio::io_context& io_;
  const BusConfig config_;
  const std::string prefix_;
  Logger& log_;
  std::shared_ptr<BusMetrics> metrics_;
  EventDispatcher dispatcher_;
  IdGenerator provisionalIds_;
  const Script publishScript_, replayScript_, createGroupScript_, claimIdleScript_, deadLetterScript_,
      deadLettersScript_, replayDeadLettersScript_, trimScript_;
  std::shared_ptr<RedisConnection> main_;
  std::shared_ptr<RedisConnection> subscriber_;

  std::mutex poolMutex_;
  std::condition_variable poolChanged_;
  std::vector<std::shared_ptr<RedisConnection>> idle_;
  std::vector<std::shared_ptr<RedisConnection>> all_;
  bool stopped_ = false;
};

}  // namespace hive::communication_engine
