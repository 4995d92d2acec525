// communication_manager's settings (docs/messaging.md, "Messages between
// agents"): limits per agent and the delivery rules, read once and checked.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "hive/config.hpp"

namespace hive::communication_manager {

struct Options {
  std::string node;                             // this process's consumer name on the bus
  std::size_t maxBodyBytes = 64 * 1024;         // a message's `body`, as sent
  double ratePerSecond = 1000;                  // messages a sender may send, sustained...
  double rateBurst = 2000;                      // ...and at once
  std::size_t maxQueue = 10000;                 // messages waiting for one recipient
  std::uint32_t maxDeliveries = 5;              // then the dead letters
  std::chrono::milliseconds ackTimeout{30000};  // an unacked message is delivered again after it
  std::size_t maxInFlight = 100;                // delivered, unacked messages per agent
  std::size_t maxRecipients = 1000;             // of one role or topic message
  std::chrono::milliseconds maxTtl{std::chrono::hours(24 * 7)};
  std::chrono::milliseconds maxReplyTimeout{std::chrono::hours(1)};
  std::size_t maxSubscriptions = 100;           // topics per agent
  std::chrono::milliseconds sweepPeriod{1000};  // redelivery, request timeouts
};

Options readOptions(const ConfigNode& section, Diagnostics& diagnostics);

}  // namespace hive::communication_manager
