// The instruments both transports report to.
#pragma once

#include "hive/metrics.hpp"

namespace hive::communication_engine {

struct BusMetrics {
  explicit BusMetrics(Metrics& metrics)
      : published(metrics.counter("hive_bus_published_total", "Events published")),
        appended(metrics.counter("hive_bus_appended_total", "Messages appended to streams")),
        rejected(metrics.counter("hive_bus_rejected_total",
                                 "Publishes and appends refused because a buffer was full")),
        buffered(metrics.gauge("hive_bus_buffered", "Publishes and appends waiting for the server")),
        reconnects(metrics.counter("hive_bus_reconnects_total", "Connections re-established to the server")),
        deadLettered(
            metrics.counter("hive_bus_dead_lettered_total", "Messages moved to a dead-letter stream")),
        dropped(metrics.counter("hive_bus_events_dropped_total",
                                "Events from the server not delivered: the dispatch queue was full")),
        callbackErrors(metrics.counter("hive_bus_callback_errors_total", "Subscriber callbacks that threw")) {
  }

  Counter& published;
  Counter& appended;
  Counter& rejected;
  Gauge& buffered;
  Counter& reconnects;
  Counter& deadLettered;
  Counter& dropped;
  Counter& callbackErrors;
};

}  // namespace hive::communication_engine
