#include "admission_gate.hpp"

#include <boost/json.hpp>

#include "figures.hpp"

namespace hive::resource_manager {

namespace json = boost::json;

std::optional<Crossing> crossedLimit(const AdmissionLimits& limits, const LoadSignals& signals) {
  if (limits.maxWaiting != 0 && signals.waiting && *signals.waiting >= limits.maxWaiting)
    return Crossing{"max_waiting", std::to_string(*signals.waiting) +
                                       " tasks wait to be claimed, the limit " + "(max_waiting) is " +
                                       std::to_string(limits.maxWaiting)};
  double maxAge = static_cast<double>(limits.maxQueueAge.count()) / 1000.0;
  if (maxAge != 0 && signals.queueAgeSeconds && *signals.queueAgeSeconds >= maxAge)
    return Crossing{"max_queue_age", "the oldest claimable task has waited " +
                                         secondsText(*signals.queueAgeSeconds) +
                                         ", the limit (max_queue_age) is " + secondsText(maxAge)};
  if (limits.minMemoryAvailableBytes != 0 && signals.host.memoryTotalBytes != 0 &&
      signals.host.memoryAvailableBytes < limits.minMemoryAvailableBytes)
    return Crossing{"min_memory_available_bytes",
                    "the host has " + mebibytes(signals.host.memoryAvailableBytes) +
                        " of memory available, the limit (min_memory_available_bytes) is " +
                        mebibytes(limits.minMemoryAvailableBytes)};
  if (limits.maxLoadPerCpu != 0 && signals.host.cpus != 0) {
    double perCpu = signals.host.load[0] / signals.host.cpus;
    if (perCpu >= limits.maxLoadPerCpu) {
      char text[160];
      std::snprintf(
          text, sizeof text,
          "the host's 1-minute load is %.2f on %u CPUs (%.2f per CPU), the limit (max_load_per_cpu) is %.2f",
          signals.host.load[0], signals.host.cpus, perCpu, limits.maxLoadPerCpu);
      return Crossing{"max_load_per_cpu", text};
    }
  }
  return std::nullopt;
}

AdmissionGate::AdmissionGate(const AdmissionLimits& limits, Metrics& metrics)
    : limits_(limits),
      closed_(metrics.gauge("hive_admission_closed",
                            "1 while resource_manager refuses new tasks (a load limit is crossed), else 0")) {
  for (const char* limit : {"max_waiting", "max_queue_age", "min_memory_available_bytes", "max_load_per_cpu",
                            "max_waiting_per_tenant", "max_waiting_by_capability"})
    refused_[limit] =
        &metrics.counter("hive_admission_refused_total",
                         "New tasks refused by admission control, by the limit crossed", {{"limit", limit}});
}

bool AdmissionGate::update(const LoadSignals& signals, std::int64_t nowMs) {
  std::optional<Crossing> crossing = crossedLimit(limits_, signals);
  std::lock_guard lock(mutex_);
  bool changed = crossing.has_value() != crossing_.has_value();
  if (crossing && !crossing_) closedSinceMs_ = nowMs;
  crossing_ = std::move(crossing);
  last_ = signals;
  sampledAtMs_ = nowMs;
  closed_.set(crossing_ ? 1 : 0);
  return changed;
}

admission::Verdict AdmissionGate::admit(const admission::Work& work) {
  admission::Verdict verdict;
  auto refuse = [&](const char* limit, std::string reason) {
    verdict.admitted = false;
    verdict.reason = std::move(reason);
    verdict.retryAfter = limits_.retryAfter;
    refused_.at(limit)->increment();
    return verdict;
  };
  std::lock_guard lock(mutex_);
  if (crossing_) return refuse(crossing_->limit.c_str(), "Hive is saturated: " + crossing_->reason);
  if (limits_.maxWaitingPerTenant != 0) {
    auto found = last_.waitingByTenant.find(work.tenant);
    if (found != last_.waitingByTenant.end() && found->second >= limits_.maxWaitingPerTenant)
      return refuse(
          "max_waiting_per_tenant",
          (work.tenant.empty() ? std::string("the default tenant") : "tenant '" + work.tenant + "'") +
              " has " + std::to_string(found->second) +
              " tasks waiting to be claimed, the limit (max_waiting_per_tenant) is " +
              std::to_string(limits_.maxWaitingPerTenant));
  }
  for (const std::string& capability : work.capabilities) {
    auto limit = limits_.maxWaitingByCapability.find(capability);
    if (limit == limits_.maxWaitingByCapability.end()) continue;
    auto found = last_.waitingByCapability.find(capability);
    if (found != last_.waitingByCapability.end() && found->second >= limit->second)
      return refuse("max_waiting_by_capability",
                    std::to_string(found->second) + " tasks needing capability '" + capability +
                        "' wait to be claimed, the limit (max_waiting_by_capability." + capability + ") is " +
                        std::to_string(limit->second));
  }
  return verdict;
}

std::optional<Crossing> AdmissionGate::crossing() const {
  std::lock_guard lock(mutex_);
  return crossing_;
}

json::object AdmissionGate::status() const {
  json::object limits;
  if (limits_.maxWaiting != 0) limits["max_waiting"] = limits_.maxWaiting;
  if (limits_.maxQueueAge.count() != 0) limits["max_queue_age_ms"] = limits_.maxQueueAge.count();
  if (limits_.minMemoryAvailableBytes != 0)
    limits["min_memory_available_bytes"] = limits_.minMemoryAvailableBytes;
  if (limits_.maxLoadPerCpu != 0) limits["max_load_per_cpu"] = limits_.maxLoadPerCpu;
  if (limits_.maxWaitingPerTenant != 0) limits["max_waiting_per_tenant"] = limits_.maxWaitingPerTenant;
  if (!limits_.maxWaitingByCapability.empty()) {
    json::object byCapability;
    for (const auto& [capability, limit] : limits_.maxWaitingByCapability) byCapability[capability] = limit;
    limits["max_waiting_by_capability"] = std::move(byCapability);
  }
  std::lock_guard lock(mutex_);
  json::object signals{{"memory_available_bytes", last_.host.memoryAvailableBytes},
                       {"load_per_cpu", last_.host.cpus != 0 ? last_.host.load[0] / last_.host.cpus : 0.0}};
  if (last_.waiting) signals["waiting"] = *last_.waiting;
  if (last_.queueAgeSeconds) signals["queue_age_seconds"] = *last_.queueAgeSeconds;
  auto counts = [](const std::map<std::string, std::uint64_t>& by) {
    json::object out;
    for (const auto& [key, count] : by) out[key] = count;
    return out;
  };
  if (limits_.maxWaitingPerTenant != 0) signals["waiting_by_tenant"] = counts(last_.waitingByTenant);
  if (!limits_.maxWaitingByCapability.empty())
    signals["waiting_by_capability"] = counts(last_.waitingByCapability);
  json::object out{{"open", !crossing_.has_value()},
                   {"limits", std::move(limits)},
                   {"signals", std::move(signals)},
                   {"sampled_at_ms", sampledAtMs_},
                   {"retry_after_seconds", limits_.retryAfter.count()}};
  if (crossing_) {
    out["limit"] = crossing_->limit;
    out["reason"] = crossing_->reason;
    out["closed_since_ms"] = closedSinceMs_;
  }
  if (!last_.unreadable.empty()) out["unreadable"] = last_.unreadable;
  return out;
}

}  // namespace hive::resource_manager
