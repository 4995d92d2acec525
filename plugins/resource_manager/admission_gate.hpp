// Admission control (hive.admission/1): new tasks are refused, 503 with
// Retry-After, while the host is saturated. The signals are read every
// `interval` off the request path (update()); admit() answers from the last
// verdict. A signal that could not be read (no task service, no
// monitoring_engine for the queue age) refuses nothing and says so in the
// status.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include "config.hpp"
#include "hive/metrics.hpp"
#include "hive/services/admission.hpp"
#include "host_usage.hpp"

namespace hive::resource_manager {

// What one sample read.
struct LoadSignals {
  HostUsage host;
  std::optional<std::uint64_t> waiting;  // tasks waiting to be claimed
  // With the per-tenant and per-capability limits: tasks waiting by the
  // submitter's tenant ("" the default one), and by each limited capability.
  std::map<std::string, std::uint64_t> waitingByTenant;
  std::map<std::string, std::uint64_t> waitingByCapability;
  std::optional<double> queueAgeSeconds;  // the oldest claimable task's wait
  std::string unreadable;                 // why a configured signal is missing ("" when none is)
};

// Which limit the signals cross, first in the order of AdmissionLimits, and
// why in words with the figures; nullopt when none is crossed.
struct Crossing {
  std::string limit;  // the setting's name: max_waiting, max_queue_age, …
  std::string reason;
};
std::optional<Crossing> crossedLimit(const AdmissionLimits& limits, const LoadSignals& signals);

class AdmissionGate final : public admission::Gate {
 public:
  AdmissionGate(const AdmissionLimits& limits, Metrics& metrics);

  // A new sample: the verdict admit() gives until the next one. Returns
  // whether the door changed (opened or closed), for the caller to log.
  bool update(const LoadSignals& signals, std::int64_t nowMs);

  // admission::Gate: refused while a host limit is crossed (the door is
  // closed), or when the work's tenant or one of its capabilities has its
  // limit of waiting tasks (the door stays open for the others).
  admission::Verdict admit(const admission::Work& work) override;

  // The limit crossed at the last sample; nullopt while open.
  std::optional<Crossing> crossing() const;
  // For GET /api/v2/resources: open or not, why, the limits and the last signals.
  boost::json::object status() const;
  const AdmissionLimits& limits() const { return limits_; }

 private:
  const AdmissionLimits limits_;
  Gauge& closed_;
  std::map<std::string, Counter*, std::less<>> refused_;  // by limit, made once: admit() is on request paths
  mutable std::mutex mutex_;
  std::optional<Crossing> crossing_;
  LoadSignals last_;
  std::int64_t sampledAtMs_ = 0;
  std::int64_t closedSinceMs_ = 0;
};

}  // namespace hive::resource_manager
