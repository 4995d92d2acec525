#include "host/swap.hpp"

#include <algorithm>
#include <optional>

#include "hive/plugin.hpp"
#include "host/catalog.hpp"
#include "host/host_state.hpp"

namespace hive::host {
namespace {

// One member of a swap: a running plugin and the generation that replaces it.
struct Member {
  Instance* instance = nullptr;
  PluginFile file;
  ConfigNode section;
  Generation next;
  std::uint64_t serving = 0;  // the generation it replaces
};

class Swap {
 public:
  Swap(HostState& state, Instance& target) : s_(state), target_(target), begin_(Clock::now()) {}

  Status run(const std::string& path, const PluginFile* given, const ConfigNode& section) {
    PluginFile file;
    if (given != nullptr) {
      file = *given;
    } else if (!path.empty()) {
      auto read = readPluginEntry(path, HostAbi::current());
      if (!read.ok()) return rollback(read.status().withContext(path));
      file = std::move(read).value();
    } else if (Status chosen = chooseFile(file); !chosen.ok()) {
      return rollback(chosen);
    }
    if (Status planned = plan(target_, file, section); !planned.ok()) return rollback(planned);
    if (Status checked = check(); !checked.ok()) return rollback(checked);
    if (Status switched = switchOver(); !switched.ok()) return rollback(switched);
    commit();
    return okStatus();
  }

 private:
  // Reading every plugin file costs time under load: only when a file must be chosen.
  const Catalog& catalog() {
    if (!scanned_) scanned_ = scanPluginDirectories(s_.config.pluginDirectories, HostAbi::current());
    return *scanned_;
  }

  Status chooseFile(PluginFile& chosen) {
    const std::string& name = target_.status.name;
    auto file = selectVersion(catalog(), {name, target_.entry.versionRange, target_.entry.required, {}});
    if (!file.ok()) {
      std::string why = file.status().message();
      for (const auto& refusal : catalog().refusals)
        if (refusal.find("'" + name + "'") != std::string::npos) why += "; refused: " + refusal;
      return Status(file.status().code(), why);
    }
    chosen = **file;
    return okStatus();
  }

  Status plan(Instance& member, const PluginFile& file, const ConfigNode& section) {
    Diagnostics diagnostics;
    auto made = s_.makeGeneration(member, file, section, member.current.number + 1,
                                  PluginServiceView::Mode::kStaging, diagnostics);
    if (!made.ok()) {
      Status why = made.status();
      if (diagnostics.hasErrors())
        why = why.withContext("").withContext(diagnostics.items().front().toString());
      return why;
    }
    members_.push_back({&member, file, section, std::move(made).value(), member.current.number});
    return okStatus();
  }

  Status check() {
    for (;;) {
      std::vector<PlannedChange> changes;
      for (const auto& m : members_) changes.push_back({m.instance, &m.next.manifest});
      std::string blocker;
      Status fits = s_.checkSwapSet(changes, blocker);
      if (fits.ok()) break;
      Instance* consumer = blocker.empty() ? nullptr : s_.find(blocker);
      if (consumer == nullptr) return fits;
      auto file =
          selectVersion(catalog(), {blocker, consumer->entry.versionRange, consumer->entry.required, {}});
      if (!file.ok() || (*file)->contentHash == consumer->current.library->contentHash())
        return Status(fits.code(), fits.message() + "; no other file of '" + blocker +
                                       "' in the plugin directories could be swapped with it; reload it "
                                       "too, or keep a compatible version");
      if (Status planned = plan(*consumer, **file, consumer->section); !planned.ok())
        return planned.withContext("swapping '" + blocker + "' along");
      s_.log->info("plugin '" + blocker + "' is swapped along with '" + target_.status.name + "' to " +
                   members_.back().next.manifest.version);
    }
    std::sort(members_.begin(), members_.end(),
              [](const Member& a, const Member& b) { return a.instance->order < b.instance->order; });
    return okStatus();
  }

  Status waitForLeases() {
    for (const auto& m : members_) {
      const std::string& name = m.instance->status.name;
      std::size_t held = s_.directory.waitForLeases(name, Clock::now() + s_.config.drainDeadline);
      if (held > 0)
        return deadlineExceeded(std::to_string(held) + " leases of '" + name + "' generation " +
                                std::to_string(m.instance->current.number) +
                                " still held after the drain deadline");
    }
    return okStatus();
  }

  // The old generation's state goes to the new one when both speak its version.
  Status start(Member& m) {
    Plugin* old = m.instance->current.plugin;
    Plugin* fresh = m.next.plugin;
    Result<Handoff> handoff = internalError("not taken");
    (void)guarded("handoff()", [&] {
      handoff = old->handoff();
      return okStatus();
    });
    Status started;
    if (handoff.ok()) {
      std::uint32_t stateVersion = handoff->stateVersion;
      started = guarded("startFrom()", [&] { return fresh->startFrom(std::move(handoff).value()); });
      if (started.code() == StatusCode::kFailedPrecondition) {
        s_.log->warn(m.next.manifest.label() + " starts from nothing: it does not take state version " +
                     std::to_string(stateVersion) + " (" + started.message() + ")");
        started = guarded("start()", [&] { return fresh->start(); });
      }
    } else {
      started = guarded("start()", [&] { return fresh->start(); });
    }
    if (started.ok())
      started = guarded("health()", [&] { return fresh->health(); }).withContext("health check");
    return started.ok() ? started : started.withContext(m.next.manifest.label());
  }

  // hive.swaps/1: kComing before the gate, so that a consumer holding a lease
  // for long lets it go and none blocks a thread of its own on the gate.
  // Every kComing is followed by one kEnded.
  void notice(SwapPhase phase, bool replaced) {
    if ((phase == SwapPhase::kComing) == noticed_) return;
    noticed_ = phase == SwapPhase::kComing;
    for (const auto& m : members_)
      s_.directory.noticeSwap({m.instance->status.name, m.serving, phase, replaced});
  }

  Status switchOver() {
    notice(SwapPhase::kComing, false);
    for (const auto& m : members_) s_.directory.gate(m.instance->status.name);
    Status started = waitForLeases();
    for (auto& m : members_) {
      if (!started.ok()) break;
      started = start(m);
      ++started_;  // stop() is owed even after a failed start
    }
    if (started.ok()) return started;
    for (const auto& m : members_) s_.directory.ungate(m.instance->status.name);
    return started;
  }

  void commit() {
    std::vector<std::unique_ptr<Instance>> replaced;
    for (auto& m : members_) {
      Instance& member = *m.instance;
      s_.directory.replace(member.status.name, member.order, m.next.context->serviceView().takeStaged());
      auto retired = std::make_unique<Instance>();
      retired->status = member.status;
      retired->current = std::exchange(member.current, std::move(m.next));
      {
        std::lock_guard lock(s_.statusMutex);
        member.section = m.section;
        member.status.version = member.current.manifest.version;
        member.status.path = m.file.path;
        member.status.generation = member.current.number;
        member.status.reloads += 1;
        member.status.lastReloadError.clear();
      }
      s_.setGeneration(member);
      count(member.status.name, "swapped");
      s_.log->info("plugin '" + member.status.name + "' swapped to " + member.current.manifest.version +
                   " (generation " + std::to_string(member.current.number) + ")");
      replaced.push_back(std::move(retired));
    }
    s_.metrics->histogram("hive_plugin_swap_seconds", "Hot swap time, trigger to new generation serving")
        .observe(std::chrono::duration<double>(Clock::now() - begin_).count());
    notice(SwapPhase::kEnded, true);
    members_.clear();
    // Consumers' old generations drain first: they may still call their providers.
    for (auto it = replaced.rbegin(); it != replaced.rend(); ++it) s_.retire(std::move(*it));
  }

  Status rollback(const Status& why) {
    for (std::size_t i = started_; i-- > 0;) {
      Plugin* fresh = members_[i].next.plugin;
      (void)guarded("stop()", [&] {
        fresh->stop();
        return okStatus();
      });
    }
    notice(SwapPhase::kEnded, false);
    for (auto& m : members_) s_.discard(m.next, "failed generation did not drain after stop()");
    std::string reason = "reload of '" + target_.status.name + "' failed: " + why.message() +
                         "; generation " + std::to_string(target_.current.number) + " keeps serving";
    s_.log->error(reason);
    {
      std::lock_guard lock(s_.statusMutex);
      target_.status.lastReloadError = reason;
    }
    count(target_.status.name, "rolled_back");
    return Status(why.code(), reason);
  }

  void count(const std::string& plugin, const std::string& result) {
    s_.metrics
        ->counter("hive_plugin_reloads_total", "Plugin hot swaps by result",
                  {{"plugin", plugin}, {"result", result}})
        .increment();
  }

  HostState& s_;
  Instance& target_;
  Clock::time_point begin_;
  std::optional<Catalog> scanned_;
  std::vector<Member> members_;
  std::size_t started_ = 0;  // members whose start was attempted
  bool noticed_ = false;     // kComing sent, kEnded owed
};

}  // namespace

Status swapPlugin(HostState& state, const std::string& name, const std::string& path, const PluginFile* file,
                  const ConfigNode* section) {
  Instance* instance = state.find(name);
  if (instance == nullptr) return notFound("no plugin named '" + name + "'");
  if (instance->status.state != PluginState::kStarted)
    return failedPrecondition("plugin '" + name + "' is " +
                              std::string(pluginStateName(instance->status.state)) +
                              ", not started; only a running plugin can be swapped");
  return Swap(state, *instance).run(path, file, section ? *section : instance->section);
}

}  // namespace hive::host
