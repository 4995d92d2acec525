// Where API keys live: the `security_keys` collection of hive.store/1, so that
// nodes sharing a PostgreSQL store share keys. A record holds the key's salt
// and digest, never its secret. Every change also adds 1 to the counter
// `security_keys.changes` in the same unit of work: a node finds out that
// another node (or the CLI) changed a key by reading one counter, not the table.
//
// Every call blocks on the store: run it on the blocking executor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hive/services.hpp"
#include "hive/services/store.hpp"
#include "hive/status.hpp"

namespace hive::security_manager {

inline constexpr const char* kKeysCollection = "security_keys";
inline constexpr const char* kChangesCounter = "security_keys.changes";

struct KeyRecord {
  std::string id;
  std::string name;
  std::string role;
  std::string tenant;   // empty: none
  std::string project;  // empty: none
  std::string agent;    // role agent: the only agent name the key may connect as
  std::string salt;     // hex
  std::string digest;   // hex, api_key.hpp
  std::string createdBy;
  std::int64_t createdAtMs = 0;
  std::int64_t expiresAtMs = 0;  // 0: never
  std::int64_t revokedAtMs = 0;  // 0: not revoked
};

// The record as stored (with salt and digest) and as shown (without).
std::string storedJson(const KeyRecord& record);
std::string publicJson(const KeyRecord& record);
Result<KeyRecord> parseStored(const std::string& body);

class KeyStore {
 public:
  explicit KeyStore(ServiceHandle<store::Store> store) : store_(std::move(store)) {}

  Status open();
  // kAlreadyExists when the id is taken (a 64-bit random id: practically never).
  Status create(const KeyRecord& record);
  // Marks the key revoked at `nowMs`; revoking a revoked key changes nothing.
  // kNotFound when there is no such key.
  Result<KeyRecord> revoke(const std::string& id, std::int64_t nowMs);
  // kNotFound when there is no such key.
  Result<KeyRecord> get(const std::string& id);
  // Every key, revoked ones included, in id order; at most `limit`.
  Result<std::vector<KeyRecord>> all(std::size_t limit);
  // The change counter: differs from the last value read when a key changed.
  Result<std::int64_t> changes();

 private:
  ServiceHandle<store::Store> store_;
};

}  // namespace hive::security_manager
