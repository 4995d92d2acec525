// The integration_engine's `config:` section, read and checked once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "hive/config.hpp"
#include "signature.hpp"

namespace hive::integration_engine {

// What an accepted inbound webhook does: start a run of `workflow`, or submit
// `task` (a task body for POST /api/v2/tasks). `map` takes values out of the
// JSON body by JSON pointer ("" = the whole body) into the run's params, or
// into the task's payload, under the given names.
struct InboundEndpoint {
  std::string name;
  std::string secret;  // never logged, never stored
  SignatureScheme scheme = SignatureScheme::kGeneric;
  std::chrono::seconds tolerance{300};
  std::size_t maxBodyBytes = 1024 * 1024;
  std::string workflow;
  boost::json::object task;
  std::vector<std::pair<std::string, std::string>> map;
  // The tenant whose run or task it makes (hive.tenancy/1); "": the default one.
  std::string tenant;
};

struct OutboundOptions {
  bool allowPrivateTargets = false;
  std::uint32_t maxAttempts = 8;
  std::chrono::milliseconds backoffBase{1000};
  std::chrono::milliseconds backoffMax{300000};
  std::chrono::milliseconds timeout{10000};
  std::size_t threads = 2;
  std::size_t concurrencyPerTarget = 2;
  std::size_t maxSubscriptions = 100;
  std::size_t maxEventBytes = 256 * 1024;
  std::chrono::milliseconds pollPeriod{1000};
  std::chrono::milliseconds refreshPeriod{10000};
  // https targets: the CA certificates (PEM) their servers' certificates must
  // chain to; empty: the system's trust store.
  std::string caFile;
  // Each subscription's signing secret is HMAC(signingKey, subscription id):
  // derived when needed, so it is never stored.
  std::string signingKey;
};

struct Settings {
  std::vector<InboundEndpoint> inbound;
  OutboundOptions outbound;
};

// Every problem goes to `diagnostics`, located at its key.
Settings readConfig(const ConfigNode& section, Diagnostics& diagnostics);

// A config subtree as JSON: maps, sequences; scalars true/false, integers and
// decimals become JSON booleans and numbers, everything else a string.
boost::json::value toJson(const ConfigNode& node);

}  // namespace hive::integration_engine
