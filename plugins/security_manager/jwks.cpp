#include "jwks.hpp"

#include <sodium.h>
#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <set>

#include <boost/json.hpp>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "jwt.hpp"

namespace hive::security_manager {
namespace {

namespace json = boost::json;

Status refused(std::string reason) { return Status(StatusCode::kUnauthenticated, std::move(reason)); }

std::string member(const json::object& object, const char* name) {
  const json::value* value = object.if_contains(name);
  return value != nullptr && value->is_string() ? std::string(value->get_string()) : std::string();
}

EVP_PKEY* pkey(const std::shared_ptr<void>& key) { return static_cast<EVP_PKEY*>(key.get()); }

Result<Jwk> readKey(const json::object& object, std::size_t index) {
  std::string where = "key " + std::to_string(index);
  Jwk key;
  key.kid = member(object, "kid");
  key.alg = member(object, "alg");
  if (!key.kid.empty()) where += " (kid " + key.kid + ")";
  std::string kty = member(object, "kty");
  if (kty == "RSA") {
    key.type = Jwk::Type::kRsa;
    if (!key.alg.empty() && key.alg != "RS256")
      return invalidArgument(where + ": alg " + key.alg + " is not supported (RS256 is)");
    auto rsa = RsaPublicKey::fromComponents(member(object, "n"), member(object, "e"));
    if (!rsa.ok()) return invalidArgument(where + ": " + rsa.status().message());
    if (rsa->bits() < kMinRsaBits)
      return invalidArgument(where + ": an RSA key of " + std::to_string(rsa->bits()) + " bits; at least " +
                             std::to_string(kMinRsaBits) + " are required");
    key.rsa = std::move(rsa).value();
    return key;
  }
  key.type = Jwk::Type::kEd25519;
  auto x = base64UrlDecode(member(object, "x"));
  if (member(object, "crv") != "Ed25519" || !x || x->size() != crypto_sign_PUBLICKEYBYTES)
    return invalidArgument(where + ": an OKP key must be crv Ed25519 with a 32-byte x");
  if (!key.alg.empty() && key.alg != "EdDSA")
    return invalidArgument(where + ": alg " + key.alg + " is not supported (EdDSA is)");
  key.ed25519 = std::move(*x);
  return key;
}

}  // namespace

Result<RsaPublicKey> RsaPublicKey::fromComponents(std::string_view modulus, std::string_view exponent) {
  auto n = base64UrlDecode(modulus);
  auto e = base64UrlDecode(exponent);
  if (!n || !e || n->empty() || e->empty()) return invalidArgument("n and e must be base64url integers");
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bigN(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), static_cast<int>(n->size()), nullptr),
      BN_free);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bigE(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), static_cast<int>(e->size()), nullptr),
      BN_free);
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> builder(OSSL_PARAM_BLD_new(),
                                                                          OSSL_PARAM_BLD_free);
  if (!bigN || !bigE || !builder ||
      !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, bigN.get()) ||
      !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, bigE.get()))
    return internalError("OpenSSL cannot build RSA parameters");
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(builder.get()),
                                                                 OSSL_PARAM_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> context(
      EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr), EVP_PKEY_CTX_free);
  EVP_PKEY* key = nullptr;
  if (!params || !context || EVP_PKEY_fromdata_init(context.get()) <= 0 ||
      EVP_PKEY_fromdata(context.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0 || key == nullptr)
    return invalidArgument("not an RSA public key");
  RsaPublicKey out;
  out.key_ = std::shared_ptr<void>(key, [](void* k) { EVP_PKEY_free(static_cast<EVP_PKEY*>(k)); });
  return out;
}

bool RsaPublicKey::verifySha256(std::string_view message, std::string_view signature) const {
  if (!key_) return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!context || EVP_DigestVerifyInit(context.get(), nullptr, EVP_sha256(), nullptr, pkey(key_)) <= 0)
    return false;
  return EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

int RsaPublicKey::bits() const { return key_ ? EVP_PKEY_get_bits(pkey(key_)) : 0; }

Result<JwkSet> parseJwks(std::string_view text) {
  json::error_code error;
  json::parse_options options;
  options.max_depth = 8;
  json::value parsed = json::parse(text, error, {}, options);
  if (error || !parsed.is_object()) return invalidArgument("not a JSON object");
  const json::value* list = parsed.as_object().if_contains("keys");
  if (list == nullptr || !list->is_array()) return invalidArgument("no \"keys\" array");
  JwkSet keys;
  std::set<std::string> kids;
  std::size_t index = 0;
  for (const auto& item : list->get_array()) {
    ++index;
    if (!item.is_object()) return invalidArgument("key " + std::to_string(index) + " is not an object");
    const auto& object = item.get_object();
    std::string kty = member(object, "kty"), use = member(object, "use");
    // Encryption keys and key types Hive does not verify with are not ours to refuse.
    if ((kty != "RSA" && kty != "OKP") || (!use.empty() && use != "sig")) continue;
    auto key = HIVE_TRY(readKey(object, index));
    if (!key.kid.empty() && !kids.insert(key.kid).second)
      return invalidArgument("two keys with kid " + key.kid);
    keys.push_back(std::move(key));
  }
  if (keys.empty()) return invalidArgument("no RSA or Ed25519 signing key");
  return keys;
}

Result<const Jwk*> selectKey(const JwkSet& keys, std::string_view kid, std::string_view algorithm) {
  Jwk::Type wanted = algorithm == "RS256" ? Jwk::Type::kRsa : Jwk::Type::kEd25519;
  auto fits = [&](const Jwk& key) { return key.type == wanted && (key.alg.empty() || key.alg == algorithm); };
  if (!kid.empty()) {
    for (const auto& key : keys)
      if (key.kid == kid) {
        if (!fits(key)) return refused("JWT kid names a key that is not for " + std::string(algorithm));
        return &key;
      }
    return refused("JWT kid names no key of this issuer");
  }
  const Jwk* only = nullptr;
  for (const auto& key : keys) {
    if (!fits(key)) continue;
    if (only != nullptr) return refused("JWT without kid, and the issuer has several keys");
    only = &key;
  }
  if (only == nullptr) return refused("the issuer has no key for " + std::string(algorithm));
  return only;
}

Result<std::shared_ptr<JwksFile>> JwksFile::open(std::string path) {
  std::shared_ptr<JwksFile> file(new JwksFile(std::move(path)));
  Stamp stamp;
  auto keys = file->read(stamp);
  if (!keys.ok()) return keys.status();
  file->keys_ = std::move(keys).value();
  file->stamp_ = stamp;
  return file;
}

Result<std::shared_ptr<const JwkSet>> JwksFile::read(Stamp& stamp) const {
  struct stat info {};
  if (::stat(path_.c_str(), &info) != 0) return notFound("cannot read " + path_);
  stamp = {static_cast<std::uint64_t>(info.st_ino), static_cast<std::uint64_t>(info.st_size),
           static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec};
  if (info.st_size > 1024 * 1024) return invalidArgument(path_ + ": larger than 1 MiB");
  std::ifstream in(path_, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto keys = parseJwks(text);
  if (!keys.ok()) return invalidArgument(path_ + ": " + keys.status().message());
  return std::make_shared<const JwkSet>(std::move(keys).value());
}

std::shared_ptr<const JwkSet> JwksFile::keys() const {
  std::lock_guard lock(mutex_);
  return keys_;
}

std::optional<Status> JwksFile::reloadIfChanged() {
  struct stat info {};
  Stamp now;
  if (::stat(path_.c_str(), &info) == 0)
    now = {static_cast<std::uint64_t>(info.st_ino), static_cast<std::uint64_t>(info.st_size),
           static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec};
  {
    std::lock_guard lock(mutex_);
    if (now == stamp_) return std::nullopt;
  }
  Stamp read;
  auto keys = this->read(read);
  std::lock_guard lock(mutex_);
  stamp_ = now;  // a failed change is reported once
  if (!keys.ok()) return keys.status();
  keys_ = std::move(keys).value();
  return okStatus();
}

}  // namespace hive::security_manager
