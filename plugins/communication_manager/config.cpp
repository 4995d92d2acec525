#include "config.hpp"

#include <unistd.h>

#include <algorithm>

namespace hive::communication_manager {
namespace {

std::string hostName() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host[0] != '\0' ? std::string(host) : "node";
}

bool isNodeName(const std::string& node) {
  return !node.empty() && node.size() <= 64 && std::all_of(node.begin(), node.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

template <typename T>
T count(ConfigReader& reader, std::string_view key, T fallback, std::int64_t low, std::int64_t high) {
  return static_cast<T>(reader.getInRange<std::int64_t>(key, static_cast<std::int64_t>(fallback), low, high));
}

}  // namespace

Options readOptions(const ConfigNode& section, Diagnostics& diagnostics) {
  using std::chrono::milliseconds;
  ConfigReader reader(section, diagnostics);
  Options o;
  o.node = reader.get<std::string>("node", hostName());
  if (!isNodeName(o.node)) reader.reject("node", "must be 1-64 characters of letters, digits, '-', '_', '.'");
  o.maxBodyBytes = count<std::size_t>(reader, "max_body_bytes", o.maxBodyBytes, 1, 1024 * 1024 - 4096);
  o.ratePerSecond = reader.getInRange<double>("rate_per_second", o.ratePerSecond, 0.1, 1e7);
  o.rateBurst = reader.getInRange<double>("rate_burst", std::max(o.rateBurst, o.ratePerSecond), 1, 1e8);
  o.maxQueue = count<std::size_t>(reader, "max_queue", o.maxQueue, 1, 100'000'000);
  o.maxDeliveries = count<std::uint32_t>(reader, "max_deliveries", o.maxDeliveries, 1, 1000);
  o.ackTimeout =
      reader.getInRange<milliseconds>("ack_timeout", o.ackTimeout, milliseconds(100), std::chrono::hours(24));
  o.maxInFlight = count<std::size_t>(reader, "max_in_flight", o.maxInFlight, 1, 100'000);
  o.maxRecipients = count<std::size_t>(reader, "max_recipients", o.maxRecipients, 1, 1000);
  o.maxTtl =
      reader.getInRange<milliseconds>("max_ttl", o.maxTtl, milliseconds(1), std::chrono::hours(24 * 365));
  o.maxReplyTimeout = reader.getInRange<milliseconds>("max_reply_timeout", o.maxReplyTimeout, milliseconds(1),
                                                      std::chrono::hours(24));
  o.maxSubscriptions = count<std::size_t>(reader, "max_subscriptions", o.maxSubscriptions, 1, 10'000);
  o.sweepPeriod = reader.getInRange<milliseconds>("sweep_period", o.sweepPeriod, milliseconds(10),
                                                  std::chrono::minutes(10));
  reader.finish();
  return o;
}

}  // namespace hive::communication_manager
