#include "host/resolver.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "host/semver.hpp"

namespace hive::host {
namespace {

struct Candidate {
  const PluginFile* file = nullptr;
  const EnabledPlugin* entry = nullptr;
  std::size_t configOrder = 0;
};

std::string joinVersions(const std::vector<const PluginFile*>& files) {
  std::string out;
  for (const auto* f : files) out += (out.empty() ? "" : ", ") + f->manifest.version;
  return out;
}

// Why a dependency is not in the set: refused, installed but not enabled, or
// in no plugin directory at all (with the closest name there is).
std::string missingBecause(const Catalog& catalog, const std::string& name, bool refused) {
  if (refused) return "was refused";
  if (!catalog.versionsOf(name).empty()) return "is not enabled (add it under plugins:)";
  std::string hint = closestMatch(name, catalog.names());
  return "is in no plugin directory" + (hint.empty() ? std::string() : " (did you mean '" + hint + "'?)");
}

}  // namespace

Result<const PluginFile*> selectVersion(const Catalog& catalog, const EnabledPlugin& entry) {
  auto files = catalog.versionsOf(entry.name);
  if (files.empty()) {
    // Its file is there but was refused (built for another SDK ABI, ...): why.
    for (const auto& refusal : catalog.refusals)
      if (refusal.find(": plugin '" + entry.name + "' ") != std::string::npos)
        return notFound("plugin '" + entry.name + "': its file was refused: " + refusal);
    std::string hint = closestMatch(entry.name, catalog.names());
    return notFound("plugin '" + entry.name + "': not found in the plugin directories" +
                    (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  }
  auto range = VersionRange::parse(entry.versionRange);
  if (!range.ok()) return invalidArgument("plugin '" + entry.name + "': " + range.status().message());
  const PluginFile* best = nullptr;
  std::optional<Version> bestVersion;
  for (const auto* file : files) {
    auto version = Version::parse(file->manifest.version);
    if (!version.ok() || !range->contains(*version)) continue;
    if (!bestVersion || *bestVersion < *version) {
      best = file;
      bestVersion = *version;
    }
  }
  if (best == nullptr)
    return notFound("plugin '" + entry.name + "': no version satisfies '" + entry.versionRange + "' (found " +
                    joinVersions(files) + ")");
  return best;
}

bool Resolution::requiredRefused() const {
  return std::any_of(refusals.begin(), refusals.end(), [](const Refusal& r) { return r.required; });
}

namespace {

// Why `m` cannot run with the plugins `chosen` (a dependency or a required
// service missing, or a dependency in a version out of range); nothing when it can.
std::optional<std::string> unmetNeed(const PluginManifest& m, const std::map<std::string, Candidate>& chosen,
                                     const Catalog& catalog, const std::vector<Refusal>& refusals) {
  for (const auto& dependency : m.dependencies) {
    auto range = VersionRange::parse(dependency.range);
    if (!range.ok()) return m.label() + ": dependency '" + dependency.name + "': " + range.status().message();
    auto found = chosen.find(dependency.name);
    if (found == chosen.end()) {
      bool refused = std::any_of(refusals.begin(), refusals.end(),
                                 [&](const Refusal& r) { return r.name == dependency.name; });
      return m.label() + ": depends on '" + dependency.name + "' " + dependency.range + ", which " +
             missingBecause(catalog, dependency.name, refused);
    }
    const std::string& have = found->second.file->manifest.version;
    auto version = Version::parse(have);
    if (!version.ok() || !range->contains(*version))
      return m.label() + ": depends on '" + dependency.name + "' " + dependency.range + ", but version " +
             have + " is enabled";
  }
  for (const ServiceKey& wanted : m.requiredServices) {
    bool provided = std::any_of(chosen.begin(), chosen.end(), [&](const auto& other) {
      const auto& offers = other.second.file->manifest.provides;
      return std::find(offers.begin(), offers.end(), wanted) != offers.end();
    });
    if (!provided)
      return m.label() + ": requires service '" + wanted.toString() + "', which no enabled plugin provides";
  }
  return std::nullopt;
}

// The cycle `name` lies on or behind, as "a -> b -> a", following what must
// start first among the plugins not `started`.
std::string cycleFrom(const std::string& name, std::map<std::string, std::set<std::string>>& before,
                      const std::set<std::string>& started, std::size_t plugins) {
  std::vector<std::string> path{name};
  std::string current = name;
  std::string cycle;
  for (std::size_t step = 0; step <= plugins; ++step) {
    std::string nextName;
    for (const auto& n : before[current])
      if (!started.count(n)) {
        nextName = n;
        break;
      }
    auto seenAt = std::find(path.begin(), path.end(), nextName);
    if (nextName.empty()) break;
    if (seenAt != path.end()) {
      for (auto p = seenAt; p != path.end(); ++p) cycle += *p + " -> ";
      cycle += nextName;
      break;
    }
    path.push_back(nextName);
    current = nextName;
  }
  return cycle;
}

}  // namespace

Resolution resolvePlugins(const Catalog& catalog, const std::vector<EnabledPlugin>& enabled) {
  Resolution resolution;
  std::map<std::string, Candidate> chosen;
  auto refuse = [&](const EnabledPlugin& entry, std::string reason) {
    resolution.refusals.push_back({entry.name, entry.required, entry.location, std::move(reason)});
  };

  for (std::size_t i = 0; i < enabled.size(); ++i) {
    auto file = selectVersion(catalog, enabled[i]);
    if (!file.ok()) {
      refuse(enabled[i], file.status().message());
      continue;
    }
    chosen[enabled[i].name] = {*file, &enabled[i], i};
  }

  // Checks that depend on the rest of the set; removing a plugin can break
  // another, so repeat until nothing changes.
  bool changed = true;
  while (changed) {
    changed = false;
    for (auto it = chosen.begin(); it != chosen.end();) {
      std::optional<std::string> problem =
          unmetNeed(it->second.file->manifest, chosen, catalog, resolution.refusals);
      if (problem) {
        refuse(*it->second.entry, *problem);
        it = chosen.erase(it);
        changed = true;
      } else {
        ++it;
      }
    }
  }

  // Edges: a plugin starts after its dependencies and after the providers of
  // the services it requires. Kahn's algorithm, ties broken by config order.
  std::map<std::string, std::set<std::string>> before;  // name -> what must start first
  for (const auto& [name, candidate] : chosen) {
    auto& needs = before[name];
    const PluginManifest& m = candidate.file->manifest;
    for (const auto& dependency : m.dependencies) needs.insert(dependency.name);
    for (const auto& wanted : m.requiredServices)
      for (const auto& [otherName, other] : chosen) {
        const auto& offers = other.file->manifest.provides;
        if (otherName != name && std::find(offers.begin(), offers.end(), wanted) != offers.end())
          needs.insert(otherName);
      }
  }
  std::set<std::string> started;
  while (started.size() < chosen.size()) {
    const Candidate* next = nullptr;
    for (const auto& [name, candidate] : chosen) {
      if (started.count(name)) continue;
      bool ready = std::all_of(before[name].begin(), before[name].end(),
                               [&](const std::string& n) { return started.count(n) != 0; });
      if (ready && (next == nullptr || candidate.configOrder < next->configOrder)) next = &candidate;
    }
    if (next == nullptr) break;
    started.insert(next->file->manifest.name);
    resolution.startOrder.push_back(next->file);
  }

  // What is left lies on or behind a cycle: report the cycle itself.
  for (const auto& [name, candidate] : chosen) {
    if (started.count(name)) continue;
    std::string cycle = cycleFrom(name, before, started, chosen.size());
    refuse(*candidate.entry, candidate.file->manifest.label() + ": dependency cycle: " + cycle);
  }
  return resolution;
}

}  // namespace hive::host
