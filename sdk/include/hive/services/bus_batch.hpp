// hive.bus_batch/1 (SDK 2.12) — publishing several events of a hive.bus/1 at
// once. Bus::publish() answers with the event's id, so a plugin that publishes
// one event after another waits for the bus once per event: on the redis
// transport a round trip to the server each, and the events a busy plugin makes
// queue up behind them (task_manager's task events fell seconds behind under
// load). publishAll() hands the bus all of them and waits once.
//
// A bus provider that supports it provides this service too, under the same
// plugin: a consumer looks it up by its bus's provider name, and publishes one
// by one without it.
//
//   auto bus = context.services().get<hive::bus::Bus>();
//   for (auto& lease : context.services().lookup(hive::bus::BatchPublisher::kServiceId))
//     if (lease.provider == bus->provider()) ...
#pragma once

#include <string>
#include <vector>

#include "hive/services.hpp"
#include "hive/status.hpp"

namespace hive::bus {

struct Outgoing {
  std::string topic;
  std::string payload;
};

class BatchPublisher : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.bus_batch", 1};

  // Publishes `events` in their order, as Bus::publish() called for each one
  // after the other would: the same checks, the same ids, and subscribers see
  // them in this order, after what this caller published before. Waits once
  // for all of them. One result per event, in order: its id, or why it was
  // refused (a bad topic or payload, a full buffer); a refused event does not
  // stop the others. Blocks like publish(); call it from the blocking executor.
  virtual std::vector<Result<std::string>> publishAll(const std::vector<Outgoing>& events) = 0;
};

}  // namespace hive::bus
