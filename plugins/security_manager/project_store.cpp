#include "project_store.hpp"

#include <boost/json.hpp>

#include "plugin_common/fnv.hpp"
#include "plugin_common/json_fields.hpp"
#include "store_reads.hpp"

namespace hive::security_manager {
namespace {

namespace json = boost::json;
using plugin_common::stringField;

constexpr std::size_t kMaxIdLength = 128;

std::string projectId(const std::string& tenant, const std::string& name) {
  std::string id = tenant + "/" + name;
  return id.size() <= kMaxIdLength ? id : plugin_common::fnvName(tenant) + "/" + name;
}

std::int64_t number(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_int64() ? v->get_int64() : 0;
}

json::object projectObject(const ProjectRecord& r) {
  json::object o{{"name", r.name}};
  if (!r.tenant.empty()) o["tenant"] = r.tenant;
  if (!r.description.empty()) o["description"] = r.description;
  if (!r.createdBy.empty()) o["created_by"] = r.createdBy;
  o["created_at_ms"] = r.createdAtMs;
  o["state"] = r.erasingSinceMs == 0 ? "active" : "erasing";
  if (r.erasingSinceMs != 0) o["erasing_since_ms"] = r.erasingSinceMs;
  return o;
}

Result<ProjectRecord> parse(const std::string& body) {
  boost::system::error_code error;
  json::value parsed = json::parse(body, error);
  if (error || !parsed.is_object()) return invalidArgument("a stored project is not a JSON object");
  const json::object& o = parsed.get_object();
  ProjectRecord r;
  r.tenant = stringField(o, "tenant");
  r.name = stringField(o, "name");
  r.description = stringField(o, "description");
  r.createdBy = stringField(o, "created_by");
  r.createdAtMs = number(o, "created_at_ms");
  r.erasingSinceMs = number(o, "erasing_since_ms");
  if (r.name.empty()) return invalidArgument("a stored project has no name");
  return r;
}

store::Document documentOf(const ProjectRecord& record) {
  store::Document document;
  document.id = projectId(record.tenant, record.name);
  document.body = projectJson(record);
  document.index["tenant"] = record.tenant;
  return document;
}

}  // namespace

std::string projectJson(const ProjectRecord& record) { return json::serialize(projectObject(record)); }

Status ProjectStore::open() {
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  return store->declareCollection({kProjectsCollection, {"tenant"}});
}

Status ProjectStore::create(const ProjectRecord& record) {
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  return store->transact([&](store::Transaction& work) -> Status {
    auto put = work.put(kProjectsCollection, documentOf(record), store::kMustNotExist);
    if (!put.ok())
      return put.status().code() == StatusCode::kAborted
                 ? alreadyExists("project '" + record.name + "' exists" +
                                 (record.tenant.empty() ? "" : " in tenant '" + record.tenant + "'"))
                 : put.status();
    return work.addToCounter(kProjectChangesCounter, 1);
  });
}

Result<ProjectRecord> ProjectStore::get(const std::string& tenant, const std::string& name) {
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  auto document = store->get(kProjectsCollection, projectId(tenant, name));
  if (!document.ok()) {
    if (document.status().code() == StatusCode::kNotFound) return notFound("no project '" + name + "'");
    return document.status();
  }
  return parse(document->body);
}

Result<ProjectRecord> ProjectStore::markErasing(const std::string& tenant, const std::string& name,
                                                std::int64_t nowMs) {
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  ProjectRecord record;
  Status done = store->transact([&](store::Transaction& work) -> Status {
    auto document = work.get(kProjectsCollection, projectId(tenant, name));
    if (!document.ok())
      return document.status().code() == StatusCode::kNotFound ? notFound("no project '" + name + "'")
                                                               : document.status();
    record = HIVE_TRY(parse(document->body));
    if (record.erasingSinceMs != 0) return okStatus();
    record.erasingSinceMs = nowMs;
    HIVE_TRY(work.put(kProjectsCollection, documentOf(record), document->version));
    return work.addToCounter(kProjectChangesCounter, 1);
  });
  if (!done.ok()) return done;
  return record;
}

Status ProjectStore::remove(const std::string& tenant, const std::string& name) {
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  return store->transact([&](store::Transaction& work) -> Status {
    HIVE_TRY(work.remove(kProjectsCollection, projectId(tenant, name)));
    return work.addToCounter(kProjectChangesCounter, 1);
  });
}

Result<std::vector<ProjectRecord>> ProjectStore::all(std::size_t limit, const std::string* tenant) {
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  store::ListQuery query;
  query.collection = kProjectsCollection;
  if (tenant != nullptr) query.equals["tenant"] = *tenant;
  return allRecords<ProjectRecord>(*store, std::move(query), limit, parse);
}

Result<std::int64_t> ProjectStore::changes() {
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  return counterValue(*store, kProjectChangesCounter);
}

}  // namespace hive::security_manager
