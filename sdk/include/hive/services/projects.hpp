// Projects (SDK 2.11): a tenant's namespaces. A project groups a tenant's
// objects (tasks today) so that they can be exported and erased together, and
// an API key made for one project sees and makes that project's objects only.
//
// hive.projects/1 — which projects exist and which project a caller is bound
// to. Provided by the plugin that keeps projects and authenticates callers
// (security_manager). A plugin that keeps objects for callers (task_manager)
// checks a project named on a new object, and narrows what a bound caller sees:
//
//   std::string bound = projects ? projects->boundProject(request.principal) : "";
//   if (!bound.empty() && task.project != bound) return notFound("no task " + id);
//
// hive.project_data/1 — provided by every plugin that keeps objects of
// projects, so that the projects' owner exports and erases a project
// everywhere: it calls each provider in turn (ServiceRegistry::lookup).
//
// Without a hive.projects/1 provider there are no projects: an object that
// names one is refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hive/services.hpp"
#include "hive/status.hpp"

namespace hive::projects {

inline constexpr std::size_t kMaxNameLength = 64;

// A project's name: 1-64 of [A-Za-z0-9._-].
inline bool isName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

class Projects : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.projects", 1};

  // The project `principal` (http::Request::principal) is bound to: a key made
  // for one project; "" when it is not bound to one. Called on request paths:
  // answers from memory, never blocks. Thread-safe.
  virtual std::string boundProject(std::string_view principal) = 0;
  // Whether `tenant` ("" the default tenant) has the project `name` now.
  // Answers from memory (another node's change shows within the provider's
  // refresh interval), never blocks. Thread-safe.
  virtual bool exists(std::string_view tenant, std::string_view name) = 0;
};

// One page of a project's objects, as JSON Lines: each line one JSON object
// whose "kind" names what it is ("task", "task_event", ...).
struct ExportPage {
  std::vector<std::string> lines;
  std::string next;  // the cursor of the next page; "" after the last one
};

class ProjectData : public Service {
 public:
  static constexpr ServiceId kServiceId{"hive.project_data", 1};

  // What this provider keeps ("tasks"): names its part in exports and erasures.
  virtual std::string kind() = 0;
  // The project's objects after `cursor` ("" from the start), about `limit`
  // lines (an object and what belongs to it stay on one page). Blocks on
  // storage: called on the blocking executor.
  virtual Result<ExportPage> exportPage(std::string_view tenant, std::string_view project,
                                        std::string_view cursor, std::size_t limit) = 0;
  // Deletes every object of the project and every record that holds its
  // content (events, results), and returns how many objects went. Called
  // after the project was deleted, so no new object joins it; called again
  // for the same project it deletes what is left. Blocks on storage.
  virtual Result<std::uint64_t> erase(std::string_view tenant, std::string_view project) = 0;
};

}  // namespace hive::projects
