// What the key routes (and through them the CLI) do: create, list and revoke
// keys in the store, and keep the authenticator's table in step with it —
// at once for changes made here, within `refresh_interval` for changes made by
// another node or by `hive auth keys` (key_store.hpp's change counter).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "config.hpp"
#include "hive/context.hpp"
#include "hive/services/http.hpp"
#include "key_authenticator.hpp"
#include "key_store.hpp"

namespace hive::security_manager {

struct CreatedKey {
  KeyRecord record;
  std::string key;  // hive_<id>_<secret>: returned once, never stored or logged
};

// A refused request: the status, and the fields at fault when it is bad input.
struct Refusal {
  Status status;
  std::vector<http::FieldError> errors;
};

class KeyService : public std::enable_shared_from_this<KeyService> {
 public:
  KeyService(PluginContext& context, Settings settings, std::shared_ptr<const Roles> roles,
             std::shared_ptr<KeyAuthenticator> authenticator, KeyStore store, std::shared_ptr<AuditLog> audit,
             Clock now = systemNowMs);

  // Reads every key into the authenticator. Blocking.
  Status load();
  // Reloads the table when the change counter moved. Blocking.
  void refresh();

  // `body` is the JSON of POST /api/v2/security/keys. Blocking.
  Result<CreatedKey> create(const std::string& body, const std::string& createdBy, Refusal& refusal);
  Result<std::vector<KeyRecord>> list();
  Result<KeyRecord> get(const std::string& id);
  Result<KeyRecord> revoke(const std::string& id, const std::string& revokedBy);

  // How create() checks that a key's project exists in its tenant (ProjectService).
  void setProjectCheck(std::function<bool(const std::string& tenant, const std::string& project)> exists) {
    projectExists_ = std::move(exists);
  }

  const Roles& roles() const { return *roles_; }
  AuditLog& audit() { return *audit_; }

  // Runs `work` on the blocking executor; the service lives until it ran.
  void background(std::function<void()> work);

 private:
  Status reloadAll();
  void recordKeyAction(const char* action, const std::string& id, const std::string& who);

  PluginContext& context_;
  Settings settings_;
  std::shared_ptr<const Roles> roles_;
  std::shared_ptr<KeyAuthenticator> authenticator_;
  KeyStore store_;
  std::shared_ptr<AuditLog> audit_;
  Clock now_;
  std::function<bool(const std::string&, const std::string&)> projectExists_;
  // One reload at a time, and no reload across a create or revoke (store write
  // and table update), so that an older table never replaces a newer one.
  std::mutex refreshMutex_;
  std::int64_t lastChanges_ = -1;  // guarded by refreshMutex_
};

}  // namespace hive::security_manager
