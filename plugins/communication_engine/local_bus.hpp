// hive.bus/1 in process: event history in a ring, streams in memory.
//
// For single-node and embedded use: streams are NOT durable across restarts
// of the process (a restart loses every message, group and dead letter).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "bus_metrics.hpp"
#include "config.hpp"
#include "event_dispatcher.hpp"
#include "hive/log.hpp"
#include "hive/services/bus.hpp"
#include "hive/services/bus_batch.hpp"
#include "names.hpp"

namespace hive::communication_engine {

class LocalBus final : public bus::Bus {
 public:
  LocalBus(const BusConfig& config, Logger& log, std::shared_ptr<BusMetrics> metrics);
  ~LocalBus() override;

  // Before start(): see EventDispatcher::watchWith.
  void watchDispatcher(std::unique_ptr<watchdog::Heartbeat> heartbeat) {
    dispatcher_.watchWith(std::move(heartbeat));
  }
  // Before start(): see EventDispatcher::shareAcrossGenerations.
  void shareSubscribers(ServiceRegistry& services) { dispatcher_.shareAcrossGenerations(services); }

  void start();
  // Wakes blocked reads (they return what they have) and stops deliveries.
  void stop();

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
  using Clock = std::chrono::steady_clock;
  struct Entry {
    ParsedId id;
    std::string payload;
  };
  struct Pending {
    std::string consumer;
    Clock::time_point lastDelivery;
    std::uint32_t deliveries = 0;
  };
  struct Group {
    bus::GroupOptions options;
    ParsedId lastDelivered;
    std::map<ParsedId, Pending> pending;
  };
  struct DeadEntry {
    std::string group;
    bus::DeadLetter letter;
  };
  struct Stream {
    std::deque<Entry> entries;
    ParsedId lastId;
    std::map<std::string, Group, std::less<>> groups;
    std::deque<DeadEntry> dead;
    ParsedId lastDeadId;
  };

  static ParsedId nextId(ParsedId& last);
  Status checkPayload(std::string_view payload) const;
  Result<Group*> findGroup(std::string_view stream, std::string_view group);  // mutex held
  const Entry* findEntry(const Stream& stream, ParsedId id) const;
  std::string appendLocked(Stream& stream, std::string payload);
  void moveToDeadLetters(Stream& stream, const std::string& groupName, Group& group, ParsedId id,
                         std::string reason);

  const BusConfig config_;
  Logger& log_;
  std::shared_ptr<BusMetrics> metricsOwner_;
  BusMetrics& metrics_;
  EventDispatcher dispatcher_;

  std::mutex eventsMutex_;
  IdGenerator eventIds_;
  std::deque<bus::Event> history_;
  std::string newestEvicted_;     // newest id dropped from the history; empty when none
  std::size_t historyBytes_ = 0;  // of the topics and payloads in history_

  std::mutex streamsMutex_;
  std::condition_variable appended_;
  std::map<std::string, Stream, std::less<>> streams_;
  bool stopping_ = false;
};

}  // namespace hive::communication_engine
