#include "key_service.hpp"

#include <boost/json.hpp>

#include "api_key.hpp"
#include "labels.hpp"
#include "route_parts.hpp"

namespace hive::security_manager {
namespace {

namespace json = boost::json;

// An optional string member: empty when absent; an error when not a string or
// not a label.
std::string label(const json::object& body, const char* field, std::vector<http::FieldError>& errors,
                  bool required) {
  const json::value* value = body.if_contains(field);
  if (value == nullptr || value->is_null()) {
    if (required) errors.push_back({std::string("/") + field, "is required"});
    return {};
  }
  if (!value->is_string() || !isLabel(value->get_string())) {
    errors.push_back({std::string("/") + field, "must be 1-64 letters, digits, '-', '_' or '.'"});
    return {};
  }
  return std::string(value->get_string());
}

}  // namespace

KeyService::KeyService(PluginContext& context, Settings settings, std::shared_ptr<const Roles> roles,
                       std::shared_ptr<KeyAuthenticator> authenticator, KeyStore store,
                       std::shared_ptr<AuditLog> audit, Clock now)
    : context_(context),
      settings_(std::move(settings)),
      roles_(std::move(roles)),
      authenticator_(std::move(authenticator)),
      store_(std::move(store)),
      audit_(std::move(audit)),
      now_(std::move(now)) {}

Status KeyService::load() {
  HIVE_TRY(store_.open());
  std::lock_guard lock(refreshMutex_);
  return reloadAll();
}

Status KeyService::reloadAll() {
  // The counter first: a change committed between the two reads is seen again
  // at the next refresh rather than missed.
  std::int64_t changes = HIVE_TRY(store_.changes());
  auto records = HIVE_TRY(store_.all(settings_.maxKeys));
  std::size_t count = records.size();
  authenticator_->replaceAll(std::move(records));
  if (lastChanges_ != -1 && changes != lastChanges_)
    context_.log().info("key table reloaded: " + std::to_string(count) + " keys");
  lastChanges_ = changes;
  return okStatus();
}

void KeyService::refresh() {
  std::lock_guard lock(refreshMutex_);
  auto changes = store_.changes();
  if (!changes.ok()) {
    context_.log().warn("cannot check the key table for changes: " + changes.status().message());
    return;
  }
  if (*changes == lastChanges_) return;
  if (Status reloaded = reloadAll(); !reloaded.ok())
    context_.log().warn("cannot reload the key table: " + reloaded.message());
}

Result<CreatedKey> KeyService::create(const std::string& text, const std::string& createdBy,
                                      Refusal& refusal) {
  auto parsed = objectBody(text, {"name", "role", "tenant", "project", "agent", "expires_in"}, refusal);
  if (!parsed) return refusal.status;
  const json::object& body = *parsed;
  auto& errors = refusal.errors;
  KeyRecord record;
  record.name = label(body, "name", errors, true);
  record.tenant = label(body, "tenant", errors, false);
  record.project = label(body, "project", errors, false);
  record.agent = label(body, "agent", errors, false);
  const json::value* role = body.if_contains("role");
  if (role == nullptr || !role->is_string() || !roles_->known(role->get_string())) {
    std::string known;
    for (const auto& [name, permissions] : roles_->all()) known += (known.empty() ? "" : ", ") + name;
    errors.push_back({"/role", "must be one of " + known});
  } else {
    record.role = std::string(role->get_string());
  }
  if (!record.agent.empty() && record.role != "agent")
    errors.push_back({"/agent", "only a key of role agent is bound to an agent"});
  if (record.role == "agent" && record.agent.empty()) record.agent = record.name;
  if (!record.project.empty() && projectExists_ && !projectExists_(record.tenant, record.project))
    errors.push_back({"/project", "no project '" + record.project + "'" +
                                      (record.tenant.empty() ? "" : " in tenant '" + record.tenant + "'") +
                                      ": create it first (POST /api/v2/projects)"});
  record.createdAtMs = now_();
  if (const json::value* expires = body.if_contains("expires_in");
      expires != nullptr && !expires->is_null()) {
    auto lifetime = expires->is_string() ? parseLifetime(expires->get_string()) : std::nullopt;
    if (!lifetime)
      errors.push_back({"/expires_in", "must be a duration such as 3600s, 90m, 12h or 30d"});
    else
      record.expiresAtMs = record.createdAtMs + lifetime->count();
  }
  if (!errors.empty()) {
    refusal.status = invalidArgument("invalid key request");
    return refusal.status;
  }
  if (authenticator_->size() >= settings_.maxKeys) {
    refusal.status = resourceExhausted("max_keys (" + std::to_string(settings_.maxKeys) +
                                       ") keys exist; revoke and delete some or raise max_keys");
    return refusal.status;
  }
  NewKey key = generateKey();
  record.id = key.id;
  record.createdBy = createdBy;
  record.salt = randomHex(kSaltHexDigits / 2);
  record.digest = secretDigest(record.salt, key.secret, settings_.pepper);
  {
    // Under the refresh's lock: a refresh that read the table before this
    // commit must not replace it after the upsert (the key would be refused
    // until the next refresh).
    std::lock_guard lock(refreshMutex_);
    if (Status created = store_.create(record); !created.ok()) {
      refusal.status = created;
      return created;
    }
    authenticator_->upsert(record);
  }
  recordKeyAction("key.create", record.id, createdBy);
  context_.log().info("key " + record.id + " (" + record.name + ", role " + record.role + ") created by " +
                      (createdBy.empty() ? "(unknown)" : createdBy));
  return CreatedKey{std::move(record), std::move(key.text)};
}

Result<std::vector<KeyRecord>> KeyService::list() { return store_.all(settings_.maxKeys); }

Result<KeyRecord> KeyService::get(const std::string& id) { return store_.get(id); }

Result<KeyRecord> KeyService::revoke(const std::string& id, const std::string& revokedBy) {
  KeyRecord revoked;
  {
    // As in create(): an older table read by a refresh must not bring the key back.
    std::lock_guard lock(refreshMutex_);
    revoked = HIVE_TRY(store_.revoke(id, now_()));
    authenticator_->upsert(revoked);
  }
  recordKeyAction("key.revoke", revoked.id, revokedBy);
  context_.log().info("key " + revoked.id + " (" + revoked.name + ") revoked by " +
                      (revokedBy.empty() ? "(unknown)" : revokedBy));
  return revoked;
}

void KeyService::recordKeyAction(const char* action, const std::string& id, const std::string& who) {
  AuditEntry entry;
  entry.atMs = now_();
  entry.principal = who.empty() ? "anonymous" : who;
  entry.action = action;
  entry.target = id;
  entry.outcome = "done";
  audit_->record(std::move(entry));
  // Written before the change is answered (this runs on the blocking executor);
  // what fails stays queued for the next flush.
  if (Status written = audit_->flush(); !written.ok())
    context_.log().warn("audit entry of " + std::string(action) + " " + id +
                        " not written yet: " + written.message());
}

void KeyService::background(std::function<void()> work) {
  context_.blocking().post([self = shared_from_this(), work = std::move(work)] { work(); });
}

}  // namespace hive::security_manager
