#include "vault.hpp"

#include <sodium.h>

#include <boost/json.hpp>

namespace hive::security_engine {
namespace {

namespace json = boost::json;

constexpr const char* kCountCounter = "secrets.count";
// Associated data: the purpose and the name, so a sealed value opens only as
// the secret it was sealed for.
constexpr std::string_view kContext = "hive.secrets/1:";

std::string associatedData(std::string_view name) { return std::string(kContext) + std::string(name); }

std::string toBase64(const std::string& bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.pop_back();  // the terminating NUL
  return out;
}

std::optional<std::string> fromBase64(std::string_view text) {
  std::string out(text.size(), '\0');
  std::size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(),
                        nullptr, &length, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0)
    return std::nullopt;
  out.resize(length);
  return out;
}

std::string field(const json::object& object, const char* key) {
  const json::value* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->get_string()) : std::string();
}

struct StoredSecret {
  Sealed sealed;
  std::string createdBy, updatedBy;
};

std::string storedJson(const StoredSecret& stored) {
  return json::serialize(json::object{{"key_id", stored.sealed.keyId},
                                      {"nonce", toBase64(stored.sealed.nonce)},
                                      {"ciphertext", toBase64(stored.sealed.ciphertext)},
                                      {"created_by", stored.createdBy},
                                      {"updated_by", stored.updatedBy}});
}

Result<StoredSecret> parseStored(const store::Document& document) {
  boost::system::error_code error;
  json::value parsed = json::parse(document.body, error);
  if (error || !parsed.is_object())
    return Status(StatusCode::kDataLoss, "secret '" + document.id + "': stored record is not a JSON object");
  const auto& object = parsed.as_object();
  StoredSecret stored;
  stored.sealed.keyId = field(object, "key_id");
  auto nonce = fromBase64(field(object, "nonce"));
  auto ciphertext = fromBase64(field(object, "ciphertext"));
  if (stored.sealed.keyId.empty() || !nonce || !ciphertext)
    return Status(StatusCode::kDataLoss,
                  "secret '" + document.id + "': stored record lacks its key id, nonce or ciphertext");
  stored.sealed.nonce = std::move(*nonce);
  stored.sealed.ciphertext = std::move(*ciphertext);
  stored.createdBy = field(object, "created_by");
  stored.updatedBy = field(object, "updated_by");
  return stored;
}

secrets::SecretInfo infoOf(const store::Document& document, const StoredSecret& stored) {
  return {document.id,          document.version,     stored.sealed.keyId,
          document.createdAtMs, document.updatedAtMs, stored.updatedBy};
}

Status checkName(std::string_view name) {
  if (!validSecretName(name))
    return invalidArgument("a secret name is 1-128 of [A-Za-z0-9_.-], starting with a letter or '_'");
  return okStatus();
}

}  // namespace

bool validSecretName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!letter(name.front())) return false;
  for (char c : name)
    if (!letter(c) && !(c >= '0' && c <= '9') && c != '.' && c != '-') return false;
  return true;
}

Sealed seal(const MasterKey& key, std::string_view name, std::string_view value) {
  Sealed sealed;
  sealed.keyId = key.id();
  sealed.nonce.resize(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  randombytes_buf(sealed.nonce.data(), sealed.nonce.size());
  sealed.ciphertext.resize(value.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  unsigned long long length = 0;
  std::string ad = associatedData(name);
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      reinterpret_cast<unsigned char*>(sealed.ciphertext.data()), &length,
      reinterpret_cast<const unsigned char*>(value.data()), value.size(),
      reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr,
      reinterpret_cast<const unsigned char*>(sealed.nonce.data()), key.data());
  sealed.ciphertext.resize(length);
  return sealed;
}

Result<std::string> open(const MasterKey& key, std::string_view name, const Sealed& sealed) {
  if (sealed.nonce.size() != crypto_aead_xchacha20poly1305_ietf_NPUBBYTES ||
      sealed.ciphertext.size() < crypto_aead_xchacha20poly1305_ietf_ABYTES)
    return Status(StatusCode::kDataLoss, "secret '" + std::string(name) + "': malformed nonce or ciphertext");
  std::string value(sealed.ciphertext.size() - crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long length = 0;
  std::string ad = associatedData(name);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(value.data()), &length, nullptr,
          reinterpret_cast<const unsigned char*>(sealed.ciphertext.data()), sealed.ciphertext.size(),
          reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
          reinterpret_cast<const unsigned char*>(sealed.nonce.data()), key.data()) != 0)
    return Status(StatusCode::kDataLoss, "secret '" + std::string(name) +
                                             "' does not decrypt (changed in the store, or another key)");
  value.resize(length);
  return value;
}

Vault::Vault(ServiceHandle<store::Store> store, SecretsSettings settings,
             std::shared_ptr<const Scanner> scanner)
    : store_(std::move(store)), settings_(std::move(settings)), scanner_(std::move(scanner)) {}

Status Vault::open() {
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  return store->declareCollection({kSecretsCollection, {}});
}

const MasterKey* Vault::keyFor(const std::string& id) const {
  if (settings_.current.id() == id) return &settings_.current;
  for (const auto& key : settings_.previous)
    if (key.id() == id) return &key;
  return nullptr;
}

Result<std::string> Vault::openDocument(const store::Document& document) {
  auto stored = HIVE_TRY(parseStored(document));
  const MasterKey* key = keyFor(stored.sealed.keyId);
  if (key == nullptr)
    return Status(StatusCode::kDataLoss, "secret '" + document.id + "' is encrypted under key " +
                                             stored.sealed.keyId + ", which is not configured");
  return security_engine::open(*key, document.id, stored.sealed);
}

Result<secrets::SecretInfo> Vault::put(std::string_view name, std::string_view value, const std::string& by,
                                       bool& created) {
  HIVE_TRY(checkName(name));
  if (value.empty()) return invalidArgument("the value is empty");
  if (value.size() > settings_.maxValueBytes)
    return invalidArgument("the value is longer than max_value_bytes (" +
                           std::to_string(settings_.maxValueBytes) + ")");
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  auto counts = HIVE_TRY(store->counters(kCountCounter));
  auto count = counts.find(kCountCounter);
  std::int64_t existing = count == counts.end() ? 0 : count->second;
  StoredSecret stored;
  stored.sealed = seal(settings_.current, name, value);
  stored.updatedBy = by;
  store::Document written;
  Status done = store->transact([&](store::Transaction& work) -> Status {
    auto previous = work.get(kSecretsCollection, std::string(name));
    if (!previous.ok() && previous.status().code() != StatusCode::kNotFound) return previous.status();
    created = !previous.ok();
    if (created && existing >= static_cast<std::int64_t>(settings_.maxSecrets))
      return resourceExhausted("max_secrets (" + std::to_string(settings_.maxSecrets) + ") secrets exist");
    if (created) {
      stored.createdBy = by;
    } else {
      auto old = parseStored(*previous);
      stored.createdBy = old.ok() ? old->createdBy : by;
    }
    store::Document document;
    document.id = std::string(name);
    document.body = storedJson(stored);
    written = HIVE_TRY(work.put(kSecretsCollection, std::move(document),
                                created ? store::kMustNotExist : previous->version));
    if (created) HIVE_TRY(work.addToCounter(kCountCounter, 1));
    return okStatus();
  });
  if (!done.ok()) return done;
  return infoOf(written, stored);
}

Status Vault::remove(std::string_view name) {
  HIVE_TRY(checkName(name));
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  return store->transact([&](store::Transaction& work) -> Status {
    HIVE_TRY(work.remove(kSecretsCollection, std::string(name)));
    return work.addToCounter(kCountCounter, -1);
  });
}

Result<secrets::SecretInfo> Vault::describe(std::string_view name) {
  if (settings_.current.empty()) return unavailable("no master key configured");
  HIVE_TRY(checkName(name));
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  auto document = HIVE_TRY(store->get(kSecretsCollection, std::string(name)));
  auto stored = HIVE_TRY(parseStored(document));
  return infoOf(document, stored);
}

Result<std::string> Vault::reveal(std::string_view name) {
  if (settings_.current.empty()) return unavailable("no master key configured");
  HIVE_TRY(checkName(name));
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  auto document = HIVE_TRY(store->get(kSecretsCollection, std::string(name)));
  return openDocument(document);
}

Result<std::vector<secrets::SecretInfo>> Vault::list() {
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  std::vector<secrets::SecretInfo> out;
  store::ListQuery query{kSecretsCollection, {}, 1000, {}};
  do {
    auto page = HIVE_TRY(store->list(query));
    for (const auto& document : page.items) {
      auto stored = parseStored(document);
      if (stored.ok())
        out.push_back(infoOf(document, *stored));
      else
        out.push_back({document.id, document.version, "", document.createdAtMs, document.updatedAtMs, ""});
    }
    query.cursor = page.nextCursor;
  } while (!query.cursor.empty());
  return out;
}

Result<RotationReport> Vault::rotateKey() {
  auto store = store_.lease();
  if (!store) return unavailable("no hive.store/1 provider is running");
  RotationReport report;
  store::ListQuery query{kSecretsCollection, {}, 100, {}};
  do {
    auto page = HIVE_TRY(store->list(query));
    for (const auto& listed : page.items) {
      // A value set meanwhile is already under the current key: re-read on a
      // version conflict rather than overwrite it with the old value.
      store::Document document = listed;
      for (int attempt = 0;; ++attempt) {
        auto stored = HIVE_TRY(parseStored(document));
        if (stored.sealed.keyId == settings_.current.id()) {
          ++report.current;
          break;
        }
        auto value = HIVE_TRY(openDocument(document));
        stored.sealed = seal(settings_.current, document.id, value);
        sodium_memzero(value.data(), value.size());
        store::Document next;
        next.id = document.id;
        next.body = storedJson(stored);
        auto written = store->put(kSecretsCollection, std::move(next), document.version);
        if (written.ok()) {
          ++report.reencrypted;
          break;
        }
        if (written.status().code() != StatusCode::kAborted || attempt == 2) return written.status();
        auto again = store->get(kSecretsCollection, document.id);
        if (!again.ok() && again.status().code() == StatusCode::kNotFound) break;  // deleted meanwhile
        document = HIVE_TRY(std::move(again));
      }
    }
    query.cursor = page.nextCursor;
  } while (!query.cursor.empty());
  return report;
}

}  // namespace hive::security_engine
