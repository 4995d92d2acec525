#include "key_store.hpp"

#include <boost/json.hpp>

#include "plugin_common/json_fields.hpp"
#include "store_reads.hpp"

namespace hive::security_manager {
namespace {

namespace json = boost::json;
using plugin_common::stringField;

json::object publicObject(const KeyRecord& r) {
  json::object o;
  o["id"] = r.id;
  o["name"] = r.name;
  o["role"] = r.role;
  if (!r.tenant.empty()) o["tenant"] = r.tenant;
  if (!r.project.empty()) o["project"] = r.project;
  if (!r.agent.empty()) o["agent"] = r.agent;
  if (!r.createdBy.empty()) o["created_by"] = r.createdBy;
  o["created_at_ms"] = r.createdAtMs;
  if (r.expiresAtMs != 0) o["expires_at_ms"] = r.expiresAtMs;
  if (r.revokedAtMs != 0) o["revoked_at_ms"] = r.revokedAtMs;
  return o;
}

std::int64_t number(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_int64() ? v->get_int64() : 0;
}

ServiceRef<store::Store> lease(const ServiceHandle<store::Store>& handle) { return handle.lease(); }

}  // namespace

std::string storedJson(const KeyRecord& record) {
  json::object o = publicObject(record);
  o["salt"] = record.salt;
  o["digest"] = record.digest;
  return json::serialize(o);
}

std::string publicJson(const KeyRecord& record) { return json::serialize(publicObject(record)); }

Result<KeyRecord> parseStored(const std::string& body) {
  json::error_code error;
  json::value value = json::parse(body, error);
  if (error || !value.is_object()) return invalidArgument("a stored key is not a JSON object");
  const auto& o = value.get_object();
  KeyRecord r;
  r.id = stringField(o, "id");
  r.name = stringField(o, "name");
  r.role = stringField(o, "role");
  r.tenant = stringField(o, "tenant");
  r.project = stringField(o, "project");
  r.agent = stringField(o, "agent");
  r.createdBy = stringField(o, "created_by");
  r.salt = stringField(o, "salt");
  r.digest = stringField(o, "digest");
  r.createdAtMs = number(o, "created_at_ms");
  r.expiresAtMs = number(o, "expires_at_ms");
  r.revokedAtMs = number(o, "revoked_at_ms");
  if (r.id.empty() || r.role.empty() || r.salt.empty() || r.digest.empty())
    return invalidArgument("stored key '" + r.id + "' lacks its id, role, salt or digest");
  return r;
}

Status KeyStore::open() {
  auto store = lease(store_);
  if (!store) return unavailable("no hive.store/1 provider is running");
  return store->declareCollection({kKeysCollection, {"role"}});
}

Status KeyStore::create(const KeyRecord& record) {
  auto store = lease(store_);
  if (!store) return unavailable("no hive.store/1 provider is running");
  return store->transact([&](store::Transaction& work) -> Status {
    store::Document document;
    document.id = record.id;
    document.body = storedJson(record);
    document.index["role"] = record.role;
    auto put = work.put(kKeysCollection, std::move(document), store::kMustNotExist);
    if (!put.ok())
      return put.status().code() == StatusCode::kAborted ? alreadyExists("key id " + record.id + " is taken")
                                                         : put.status();
    return work.addToCounter(kChangesCounter, 1);
  });
}

Result<KeyRecord> KeyStore::revoke(const std::string& id, std::int64_t nowMs) {
  auto store = lease(store_);
  if (!store) return unavailable("no hive.store/1 provider is running");
  KeyRecord revoked;
  Status done = store->transact([&](store::Transaction& work) -> Status {
    auto document = HIVE_TRY(work.get(kKeysCollection, id));
    revoked = HIVE_TRY(parseStored(document.body));
    if (revoked.revokedAtMs != 0) return okStatus();
    revoked.revokedAtMs = nowMs;
    document.body = storedJson(revoked);
    std::uint64_t version = document.version;
    HIVE_TRY(work.put(kKeysCollection, std::move(document), version));
    return work.addToCounter(kChangesCounter, 1);
  });
  if (!done.ok()) return done;
  return revoked;
}

Result<KeyRecord> KeyStore::get(const std::string& id) {
  auto store = lease(store_);
  if (!store) return unavailable("no hive.store/1 provider is running");
  auto document = HIVE_TRY(store->get(kKeysCollection, id));
  return parseStored(document.body);
}

Result<std::vector<KeyRecord>> KeyStore::all(std::size_t limit) {
  auto store = lease(store_);
  if (!store) return unavailable("no hive.store/1 provider is running");
  store::ListQuery query;
  query.collection = kKeysCollection;
  return allRecords<KeyRecord>(*store, std::move(query), limit, parseStored);
}

Result<std::int64_t> KeyStore::changes() {
  auto store = lease(store_);
  if (!store) return unavailable("no hive.store/1 provider is running");
  return counterValue(*store, kChangesCounter);
}

}  // namespace hive::security_manager
