#include "project_service.hpp"

#include <algorithm>
#include <charconv>

#include <boost/json.hpp>

#include "labels.hpp"
#include "plugin_common/hex.hpp"
#include "route_parts.hpp"

namespace hive::security_manager {
namespace {

namespace json = boost::json;

// Projects held in memory and stored, over every tenant.
constexpr std::size_t kMaxProjects = 10000;
constexpr std::size_t kMaxDescriptionBytes = 1000;
// Audit entries read per store call, and at most this many per export page.
constexpr std::size_t kAuditBatch = 1000;
constexpr std::size_t kAuditPerPage = 20 * kAuditBatch;
// The export's last part, after every hive.project_data/1 provider's.
constexpr std::string_view kAuditPart = "~audit";

// An export cursor: the part (a provider's plugin name, or kAuditPart) and that
// part's own cursor, hex-encoded so that it travels in a query as it is.
std::string cursorOf(std::string_view part, std::string_view inner) {
  std::string text(part);
  text += '\n';
  text += inner;
  return plugin_common::hexOf(text);
}

std::optional<std::pair<std::string, std::string>> parseCursor(const std::string& cursor) {
  auto text = plugin_common::bytesOfHex(cursor);
  if (!text) return std::nullopt;
  std::size_t newline = text->find('\n');
  if (newline == std::string::npos) return std::nullopt;
  return std::pair{text->substr(0, newline), text->substr(newline + 1)};
}

Status unknownProject(const std::string& name) { return notFound("no project '" + name + "'"); }

}  // namespace

ProjectService::ProjectService(PluginContext& context, ProjectStore store,
                               std::shared_ptr<KeyAuthenticator> authenticator,
                               std::shared_ptr<KeyService> keys, Clock now)
    : context_(context),
      store_(std::move(store)),
      authenticator_(std::move(authenticator)),
      keys_(std::move(keys)),
      now_(std::move(now)) {}

Status ProjectService::load() {
  HIVE_TRY(store_.open());
  return reloadAll();
}

Status ProjectService::reloadAll() {
  std::lock_guard reload(reloadMutex_);
  // The counter first: a change committed between the two reads is seen again at the next refresh.
  std::int64_t changes = HIVE_TRY(store_.changes());
  auto records = HIVE_TRY(store_.all(kMaxProjects));
  auto active = std::make_shared<Active>();
  for (const auto& record : records)
    if (record.erasingSinceMs == 0) active->emplace(record.tenant, record.name);
  std::lock_guard lock(mutex_);
  active_ = std::move(active);
  lastChanges_ = changes;
  return okStatus();
}

void ProjectService::refresh() {
  auto changes = store_.changes();
  if (!changes.ok()) {
    context_.log().warn("cannot check the projects for changes: " + changes.status().message());
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (*changes == lastChanges_) return;
  }
  if (Status reloaded = reloadAll(); !reloaded.ok())
    context_.log().warn("cannot reload the projects: " + reloaded.message());
}

bool ProjectService::exists(std::string_view tenant, std::string_view name) {
  std::shared_ptr<const Active> active;
  {
    std::lock_guard lock(mutex_);
    active = active_;
  }
  return active->find(std::pair{std::string(tenant), std::string(name)}) != active->end();
}

void ProjectService::changeActive(const std::function<void(Active&)>& change) {
  std::lock_guard lock(mutex_);
  auto active = std::make_shared<Active>(*active_);
  change(*active);
  active_ = std::move(active);
}

Caller ProjectService::callerOf(const std::string& principal) const {
  return {{authenticator_->scopeOf(principal), authenticator_->boundProject(principal)}, principal};
}

std::string ProjectService::addressedTenant(const Caller& caller, const std::string* tenantParam) {
  if (!caller.scope.allTenants || tenantParam == nullptr) return caller.scope.tenant;
  return *tenantParam;
}

Result<ProjectRecord> ProjectService::create(const Caller& caller, const std::string& text,
                                             Refusal& refusal) {
  if (!caller.project.empty()) {
    refusal.status = Status(StatusCode::kPermissionDenied,
                            "a key of project '" + caller.project + "' cannot create projects");
    return refusal.status;
  }
  auto parsed = objectBody(text, {"name", "description", "tenant"}, refusal);
  if (!parsed) return refusal.status;
  const json::object& body = *parsed;
  auto& errors = refusal.errors;
  ProjectRecord record;
  record.tenant = caller.scope.tenant;
  if (const json::value* name = body.if_contains("name"); name == nullptr)
    errors.push_back({"/name", "is required"});
  else if (!name->is_string() || !projects::isName(name->get_string()))
    errors.push_back({"/name", "must be 1-64 letters, digits, '-', '_' or '.'"});
  else
    record.name = std::string(name->get_string());
  if (const json::value* description = body.if_contains("description")) {
    if (!description->is_string() || description->get_string().size() > kMaxDescriptionBytes)
      errors.push_back({"/description", "must be a string of at most 1000 bytes"});
    else
      record.description = std::string(description->get_string());
  }
  if (const json::value* tenant = body.if_contains("tenant")) {
    if (!caller.scope.allTenants)
      errors.push_back(
          {"/tenant", "only a caller that spans tenants names one; yours is '" + caller.scope.tenant + "'"});
    else if (!tenant->is_string() || !isLabel(tenant->get_string()))
      errors.push_back({"/tenant", "must be 1-64 letters, digits, '-', '_' or '.'"});
    else
      record.tenant = std::string(tenant->get_string());
  }
  if (!errors.empty()) {
    refusal.status = invalidArgument("invalid project");
    return refusal.status;
  }
  {
    std::lock_guard lock(mutex_);
    if (active_->size() >= kMaxProjects) {
      refusal.status = resourceExhausted(std::to_string(kMaxProjects) + " projects exist; erase some first");
      return refusal.status;
    }
  }
  record.createdBy = caller.principal;
  record.createdAtMs = now_();
  if (Status created = store_.create(record); !created.ok()) {
    refusal.status = created;
    return created;
  }
  changeActive([&](Active& active) { active.emplace(record.tenant, record.name); });
  audit(caller, "project.create", record, "done");
  context_.log().info("project '" + record.name + "'" +
                      (record.tenant.empty() ? "" : " of tenant '" + record.tenant + "'") + " created by " +
                      caller.principal);
  return record;
}

Result<std::vector<ProjectRecord>> ProjectService::list(const Caller& caller, const std::string* tenant) {
  std::string only = addressedTenant(caller, tenant);
  auto records =
      HIVE_TRY(store_.all(kMaxProjects, caller.scope.allTenants && tenant == nullptr ? nullptr : &only));
  std::erase_if(records,
                [&](const ProjectRecord& record) { return !caller.sees(record.tenant, record.name); });
  return records;
}

Result<ProjectRecord> ProjectService::get(const Caller& caller, const std::string& tenant,
                                          const std::string& name) {
  auto record = store_.get(tenant, name);
  if (record.ok() && !caller.sees(record->tenant, record->name)) return unknownProject(name);
  return record;
}

Result<Erased> ProjectService::erase(const Caller& caller, const std::string& tenant,
                                     const std::string& name) {
  HIVE_TRY(get(caller, tenant, name));
  // From here the project takes no new object, on this node at once.
  Erased erased;
  erased.project = HIVE_TRY(store_.markErasing(tenant, name, now_()));
  changeActive([&](Active& active) { active.erase({tenant, name}); });
  for (const auto& lease : context_.services().lookup(projects::ProjectData::kServiceId)) {
    auto* data = static_cast<projects::ProjectData*>(lease.service.get());
    auto gone = data->erase(tenant, name);
    if (!gone.ok()) {
      audit(caller, "project.erase", erased.project, "failed");
      return Status(gone.status().code(), "erasing the project's " + data->kind() + " (" + lease.provider +
                                              "): " + gone.status().message() +
                                              "; the project stays `erasing`: DELETE it again to finish");
    }
    erased.objects[data->kind()] += *gone;
  }
  // Its keys go with it: a project made later under the same name is not theirs.
  auto keys = HIVE_TRY(keys_->list());
  for (const auto& key : keys)
    if (key.tenant == tenant && key.project == name && key.revokedAtMs == 0) {
      HIVE_TRY(keys_->revoke(key.id, caller.principal));
      ++erased.keysRevoked;
    }
  Status removed = store_.remove(tenant, name);
  if (!removed.ok() && removed.code() != StatusCode::kNotFound) return removed;
  audit(caller, "project.erase", erased.project, "done");
  std::string counts;
  for (const auto& [kind, count] : erased.objects) counts += ", " + std::to_string(count) + " " + kind;
  context_.log().info("project '" + name + "'" + (tenant.empty() ? "" : " of tenant '" + tenant + "'") +
                      " erased by " + caller.principal + counts + ", " + std::to_string(erased.keysRevoked) +
                      " keys revoked");
  return erased;
}

void ProjectService::audit(const Caller& caller, const char* action, const ProjectRecord& project,
                           const std::string& outcome) {
  AuditEntry entry;
  entry.atMs = now_();
  entry.principal = caller.principal.empty() ? "anonymous" : caller.principal;
  entry.action = action;
  entry.target = project.name;
  entry.outcome = outcome;
  entry.tenant = project.tenant;
  entry.project = project.name;
  keys_->audit().record(std::move(entry));
  // Written before the change is answered (this runs on the blocking executor).
  if (Status written = keys_->audit().flush(); !written.ok())
    context_.log().warn("audit entry of " + std::string(action) + " " + project.name +
                        " not written yet: " + written.message());
}

Result<projects::ExportPage> ProjectService::exportPage(const Caller& caller, const std::string& tenant,
                                                        const std::string& name, const std::string& cursor,
                                                        std::size_t limit) {
  ProjectRecord project = HIVE_TRY(get(caller, tenant, name));
  if (project.erasingSinceMs != 0)
    return failedPrecondition("project '" + name + "' is being erased: there is nothing left to export");
  // The providers in a stable order: by plugin name.
  auto providers = context_.services().lookup(projects::ProjectData::kServiceId);
  std::sort(providers.begin(), providers.end(),
            [](const ServiceLease& a, const ServiceLease& b) { return a.provider < b.provider; });
  projects::ExportPage out;
  std::string part, inner;
  if (cursor.empty()) {
    out.lines.push_back(
        json::serialize(json::object{{"kind", "project"}, {"project", json::parse(projectJson(project))}}));
    part = providers.empty() ? std::string(kAuditPart) : providers.front().provider;
  } else {
    auto parsed = parseCursor(cursor);
    if (!parsed) return invalidArgument("bad cursor: pass the one the last page's Link header gave");
    std::tie(part, inner) = *parsed;
  }
  if (part == kAuditPart) {
    std::uint64_t after = 0;
    if (!inner.empty() && std::from_chars(inner.data(), inner.data() + inner.size(), after).ec != std::errc())
      return invalidArgument("bad cursor: pass the one the last page's Link header gave");
    auto page = HIVE_TRY(exportAudit(project, after, limit));
    for (auto& line : page.lines) out.lines.push_back(std::move(line));
    out.next = page.next.empty() ? "" : cursorOf(kAuditPart, page.next);
    return out;
  }
  auto at = std::find_if(providers.begin(), providers.end(),
                         [&](const ServiceLease& lease) { return lease.provider == part; });
  if (at == providers.end())
    return Status(StatusCode::kFailedPrecondition,
                  "the export's plugin '" + part + "' no longer runs: start the export again");
  auto* data = static_cast<projects::ProjectData*>(at->service.get());
  auto page = HIVE_TRY(data->exportPage(tenant, name, inner, limit));
  for (auto& line : page.lines) out.lines.push_back(std::move(line));
  if (!page.next.empty())
    out.next = cursorOf(part, page.next);
  else
    out.next =
        cursorOf(std::next(at) == providers.end() ? std::string(kAuditPart) : std::next(at)->provider, "");
  return out;
}

Result<projects::ExportPage> ProjectService::exportAudit(const ProjectRecord& project, std::uint64_t after,
                                                         std::size_t limit) {
  (void)keys_->audit().flush();  // what this node queued is in the export
  projects::ExportPage out;
  std::size_t scanned = 0;
  while (out.lines.size() < limit && scanned < kAuditPerPage) {
    auto events = HIVE_TRY(keys_->audit().read(after, kAuditBatch));
    for (std::size_t i = 0; i < events.size() && out.lines.size() < limit; ++i, ++scanned) {
      const auto& event = events[i];
      after = event.id;
      boost::system::error_code error;
      json::value record = json::parse(event.body, error);
      if (error || !record.is_object()) continue;
      // {"entry": {...}, "prev", "hash"}: audit_log.cpp.
      const json::value* entry = record.get_object().if_contains("entry");
      if (entry == nullptr || !entry->is_object()) continue;
      auto field = [&](const char* key) {
        const json::value* value = entry->get_object().if_contains(key);
        return value && value->is_string() ? std::string_view(value->get_string()) : std::string_view();
      };
      if (field("project") != project.name || field("tenant") != project.tenant) continue;
      out.lines.push_back(
          json::serialize(json::object{{"kind", "audit"}, {"id", event.id}, {"record", record}}));
    }
    bool whole = out.lines.size() < limit || events.empty() || after == events.back().id;
    if (events.size() < kAuditBatch && whole) return out;
  }
  out.next = std::to_string(after);
  return out;
}

}  // namespace hive::security_manager
