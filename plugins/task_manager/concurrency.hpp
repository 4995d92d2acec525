// Concurrency limits: how many tasks needing a capability, or of one tenant,
// may be assigned or running at once, on every node together. The counts are
// store counters kept by the transactions that move a task in or out of those
// states (one per queue, Outbox); a claim reads them and takes no more than
// the room they leave.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hive::task_manager {

struct ConcurrencyLimits {
  std::int64_t perTenant = 0;                        // every tenant's, the default tenant's too; 0: none
  std::map<std::string, std::int64_t> tenants;       // tenant → its own limit (replaces perTenant)
  std::map<std::string, std::int64_t> capabilities;  // capability → its limit
  bool any() const { return perTenant > 0 || !tenants.empty() || !capabilities.empty(); }
};

// The counter of `queue`'s assigned and running tasks ("tasks.busy.<...>").
std::string busyCounter(const std::string& queue);
inline constexpr const char* kBusyCounters = "tasks.busy.";

// The room the limits leave, from the counters read before a claim.
class Headroom {
 public:
  // `queues`: queue name → the capabilities it requires (its tenant's too);
  // `counters`: Store::counters(kBusyCounters), nullopt when they could not
  // be read: then a queue under any limit has no room, the others all.
  Headroom(const ConcurrencyLimits& limits, const std::map<std::string, std::vector<std::string>>& queues,
           const std::optional<std::map<std::string, std::int64_t>>& counters);
  // How many more tasks of a queue requiring `required` may be taken now.
  std::size_t room(const std::vector<std::string>& required) const;
  // `count` of them were taken.
  void took(const std::vector<std::string>& required, std::size_t count);

 private:
  // The limits that apply to a queue requiring `required`: key → limit.
  std::map<std::string, std::int64_t> limitsOf(const std::vector<std::string>& required) const;

  const ConcurrencyLimits& limits_;
  bool known_ = true;                         // the counts were read
  std::map<std::string, std::int64_t> busy_;  // "c:<capability>" / "t:<tenant>" → tasks held
};

}  // namespace hive::task_manager
