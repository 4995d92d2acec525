#include "health_monitor.hpp"

namespace hive::monitoring_engine {
namespace {

std::int64_t systemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string describe(const Status& status) {
  return std::string(statusCodeName(status.code())) + ": " + status.message();
}

}  // namespace

HealthMonitor::HealthMonitor(PluginContext& context, std::set<std::string> optionalPlugins, WallClock clock)
    : context_(context),
      optional_(std::move(optionalPlugins)),
      clock_(clock ? std::move(clock) : systemNowMs) {}

void HealthMonitor::poll() {
  auto checker = context_.services().get<health::Checker>();
  if (!checker.ok()) {
    std::lock_guard lock(mutex_);
    pollError_ = "no hive.health/1 provider (the kernel's): plugin health is not known";
    return;
  }
  Result<std::vector<health::PluginHealth>> answers = (*checker)->check();
  std::int64_t now = clock_();
  std::lock_guard lock(mutex_);
  if (!answers.ok()) {
    pollError_ = answers.status().message();
    return;
  }
  pollError_.clear();
  lastPollUnixMs_ = now;
  std::set<std::string> seen;
  for (const auto& answer : *answers) {
    seen.insert(answer.plugin);
    record(answer, now);
  }
  // A plugin no longer started (stopped, failed, disabled) has no health to
  // report; the kernel's plugin list (/api/v2/admin/plugins) says why.
  for (auto it = records_.begin(); it != records_.end();) {
    if (seen.count(it->first) == 0) {
      context_.metrics()
          .gauge("hive_plugin_healthy", "1 when the plugin's last health() was OK", {{"plugin", it->first}})
          .set(0);
      it = records_.erase(it);
    } else {
      ++it;
    }
  }
}

void HealthMonitor::record(const health::PluginHealth& answer, std::int64_t now) {
  bool healthy = answer.status.ok();
  auto [entry, created] = records_.try_emplace(answer.plugin);
  PluginRecord& r = entry->second;
  if (created || r.healthy != healthy) {
    r.sinceUnixMs = now;
    if (!created || !healthy) {
      std::string line = "health: " + answer.plugin +
                         (healthy ? " is healthy again" : " is unhealthy: " + describe(answer.status));
      if (healthy)
        context_.log().info(line);
      else
        context_.log().warn(line);
    }
  }
  r.plugin = answer.plugin;
  r.generation = answer.generation;
  r.healthy = healthy;
  r.optional = optional_.count(answer.plugin) != 0;
  r.checkedUnixMs = now;
  if (healthy) {
    r.error.clear();
  } else {
    r.error = describe(answer.status);
    r.lastError = r.error;
    r.lastErrorUnixMs = now;
  }
  context_.metrics()
      .gauge("hive_plugin_healthy", "1 when the plugin's last health() was OK", {{"plugin", answer.plugin}})
      .set(healthy ? 1 : 0);
}

std::vector<health::FailingCheck> HealthMonitor::failing() const {
  std::vector<health::FailingCheck> out;
  std::lock_guard lock(mutex_);
  for (const auto& [name, r] : records_)
    if (!r.healthy && !r.optional) out.push_back({name, r.error, r.sinceUnixMs});
  return out;
}

HealthSnapshot HealthMonitor::snapshot() const {
  std::lock_guard lock(mutex_);
  HealthSnapshot out;
  for (const auto& [name, r] : records_) out.plugins.push_back(r);
  out.lastPollUnixMs = lastPollUnixMs_;
  out.pollError = pollError_;
  return out;
}

}  // namespace hive::monitoring_engine
