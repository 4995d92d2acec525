#include "config.hpp"

#include <string>

namespace hive::task_manager {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Every duration here is added to clock readings: each has an upper bound too.
milliseconds duration(ConfigReader& reader, const char* key, milliseconds fallback, milliseconds low,
                      milliseconds high) {
  return reader.getInRange<milliseconds>(key, fallback, low, high);
}

std::int64_t number(ConfigReader& reader, const char* key, std::int64_t fallback, std::int64_t low,
                    std::int64_t high) {
  return reader.getInRange<std::int64_t>(key, fallback, low, high);
}

constexpr milliseconds kTenYears = hours(24 * 3650);

// retention: {keep, by_type, events, batch, period}. Config version 1 had four flat
// keys (retention: 7d, retention_by_type, ...): `hive config migrate` nests them.
void readRetention(ConfigReader& parent, Diagnostics& diagnostics, Options& o) {
  const ConfigNode& node = parent.child("retention");
  if (node.isNull()) return;
  if (!node.isMap())
    return parent.reject(
        "retention",
        "expected a map (keep, by_type, events, batch, period); a duration here is the shape of "
        "config version 1: `hive config migrate FILE` rewrites it as retention.keep");
  ConfigReader reader(node, diagnostics);
  o.retention = duration(reader, "keep", o.retention, seconds(1), kTenYears);
  const ConfigNode& byType = reader.child("by_type");
  if (!byType.isNull() && !byType.isMap()) {
    reader.reject("by_type", "expected a map of task type to duration");
  } else if (byType.isMap()) {
    ConfigReader types(byType, diagnostics);
    for (const auto& entry : byType.entries())
      o.retentionByType[entry.key] = duration(types, entry.key.c_str(), o.retention, seconds(1), kTenYears);
    types.finish();
  }
  o.eventRetention = duration(reader, "events", o.eventRetention, seconds(1), kTenYears);
  o.retentionBatch =
      static_cast<std::size_t>(number(reader, "batch", static_cast<std::int64_t>(o.retentionBatch), 1, 1000));
  o.retentionPeriod = duration(reader, "period", o.retentionPeriod, seconds(1), hours(24));
  reader.finish();
}

constexpr std::int64_t kMaxConcurrency = 1'000'000;

// A map of name → limit (1..kMaxConcurrency) under `key`.
void readLimits(ConfigReader& parent, Diagnostics& diagnostics, const char* key,
                std::map<std::string, std::int64_t>& out) {
  const ConfigNode& node = parent.child(key);
  if (node.isNull()) return;
  if (!node.isMap()) return parent.reject(key, "expected a map of name to a number of tasks");
  ConfigReader limits(node, diagnostics);
  for (const auto& entry : node.entries())
    out[entry.key] = limits.getInRange<std::int64_t>(entry.key.c_str(), 1, 1, kMaxConcurrency);
  limits.finish();
}

// concurrency: {per_tenant, tenants, capabilities}.
void readConcurrency(ConfigReader& parent, Diagnostics& diagnostics, Options& o) {
  const ConfigNode& node = parent.child("concurrency");
  if (node.isNull()) return;
  if (!node.isMap())
    return parent.reject("concurrency", "expected a map (per_tenant, tenants, capabilities)");
  ConfigReader reader(node, diagnostics);
  o.concurrency.perTenant = number(reader, "per_tenant", 0, 0, kMaxConcurrency);
  readLimits(reader, diagnostics, "tenants", o.concurrency.tenants);
  readLimits(reader, diagnostics, "capabilities", o.concurrency.capabilities);
  reader.finish();
}

}  // namespace

Options readOptions(const ConfigNode& section, Diagnostics& diagnostics) {
  ConfigReader reader(section, diagnostics);
  Options o;
  o.retryBase = duration(reader, "retry_base", o.retryBase, milliseconds(1), hours(24));
  o.retryMax = duration(reader, "retry_max", o.retryMax, milliseconds(1), hours(24));
  if (o.retryMax < o.retryBase) reader.reject("retry_max", "must not be shorter than retry_base");
  o.aging = duration(reader, "aging", o.aging, milliseconds(0), hours(24 * 30));
  o.claimLease = duration(reader, "claim_lease", o.claimLease, milliseconds(100), hours(24));
  o.sweepPeriod = duration(reader, "sweep_period", o.sweepPeriod, milliseconds(10), hours(1));
  o.limits.maxPayloadBytes = static_cast<std::size_t>(
      number(reader, "max_payload_bytes", static_cast<std::int64_t>(o.limits.maxPayloadBytes), 1024,
             16 * 1024 * 1024));
  o.limits.maxAttempts = static_cast<std::uint32_t>(number(reader, "max_attempts_limit", 20, 1, 1000));
  o.limits.maxTimeout = duration(reader, "max_timeout", o.limits.maxTimeout, seconds(1), hours(24 * 30));
  std::string spans = reader.get<std::string>("transaction_spans", "created");
  if (spans == "none") {
    o.transactionSpans = TransactionSpans::kNone;
  } else if (spans == "all") {
    o.transactionSpans = TransactionSpans::kAll;
  } else if (spans != "created") {
    reader.reject("transaction_spans", "must be created, all or none, got '" + spans + "'");
  }
  readRetention(reader, diagnostics, o);
  readConcurrency(reader, diagnostics, o);
  reader.finish();
  return o;
}

}  // namespace hive::task_manager
