// Projects: a tenant's namespaces (hive.projects/1), under /api/v2/projects.
//
// - Which projects exist is answered from memory: the active projects are held
//   as an immutable snapshot, replaced after a change here at once and after a
//   change on another node within `refresh_interval` (project_store.hpp's
//   change counter).
// - A key made for a project (KeyRecord::project) is bound to it: it sees and
//   makes that project's objects only, and cannot create projects.
// - Export and erasure go through every hive.project_data/1 provider (tasks
//   today), then the audit log: an export streams what each holds as JSON
//   Lines, a page at a time; an erasure marks the project `erasing` (it takes
//   no new objects), has each provider delete its objects, revokes the keys
//   bound to the project, deletes the record and audits that it happened.
//   The audit log keeps the project's entries: they say who did what and when,
//   never what a task carried, and the hash chain needs them.
//
// Every call but exists() and boundProject() blocks on the store.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "hive/context.hpp"
#include "hive/services/projects.hpp"
#include "key_authenticator.hpp"
#include "key_service.hpp"
#include "plugin_common/tenant_scope.hpp"
#include "project_store.hpp"

namespace hive::security_manager {

// Who asks, as this plugin sees it: what it may see (its tenant scope and the
// project its key is bound to), and its principal for the records.
struct Caller : plugin_common::Viewer {
  std::string principal;
};

struct Erased {
  ProjectRecord project;
  std::map<std::string, std::uint64_t> objects;  // kind → how many went
  std::size_t keysRevoked = 0;
};

class ProjectService final : public projects::Projects {
 public:
  ProjectService(PluginContext& context, ProjectStore store, std::shared_ptr<KeyAuthenticator> authenticator,
                 std::shared_ptr<KeyService> keys, Clock now = systemNowMs);

  Status load();
  void refresh();

  Caller callerOf(const std::string& principal) const;
  // The tenant a request addresses: the caller's own, or for a caller that
  // spans tenants the one `?tenant=` names (default: the default tenant).
  static std::string addressedTenant(const Caller& caller, const std::string* tenantParam);

  Result<ProjectRecord> create(const Caller& caller, const std::string& body, Refusal& refusal);
  // The caller's tenant's (a bound caller: its own project only); every tenant's
  // for a caller that spans tenants, unless `tenant` names one.
  Result<std::vector<ProjectRecord>> list(const Caller& caller, const std::string* tenant);
  // kNotFound for a project the caller may not see.
  Result<ProjectRecord> get(const Caller& caller, const std::string& tenant, const std::string& name);
  Result<Erased> erase(const Caller& caller, const std::string& tenant, const std::string& name);
  // One page of the export: JSON lines and the next cursor ("" after the last page).
  Result<projects::ExportPage> exportPage(const Caller& caller, const std::string& tenant,
                                          const std::string& name, const std::string& cursor,
                                          std::size_t limit);

  // hive::projects::Projects
  std::string boundProject(std::string_view principal) override {
    return authenticator_->boundProject(principal);
  }
  bool exists(std::string_view tenant, std::string_view name) override;

 private:
  using Active = std::set<std::pair<std::string, std::string>, std::less<>>;  // (tenant, name)
  Status reloadAll();
  // Replaces the snapshot of active projects by a changed copy (after a change made here).
  void changeActive(const std::function<void(Active&)>& change);
  void audit(const Caller& caller, const char* action, const ProjectRecord& project,
             const std::string& outcome);
  Result<projects::ExportPage> exportAudit(const ProjectRecord& project, std::uint64_t after,
                                           std::size_t limit);

  PluginContext& context_;
  ProjectStore store_;
  std::shared_ptr<KeyAuthenticator> authenticator_;
  std::shared_ptr<KeyService> keys_;
  Clock now_;
  mutable std::mutex mutex_;  // guards active_ (the pointer) and lastChanges_
  std::shared_ptr<const Active> active_ = std::make_shared<Active>();
  std::int64_t lastChanges_ = -1;
  std::mutex reloadMutex_;  // one reload at a time
};

}  // namespace hive::security_manager
