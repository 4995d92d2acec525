#include "jwt.hpp"

#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include <boost/json.hpp>

#include "labels.hpp"

namespace hive::security_manager {
namespace {

namespace json = boost::json;

Status refused(std::string reason) { return Status(StatusCode::kUnauthenticated, std::move(reason)); }

std::optional<json::object> parseObject(std::string_view text) {
  json::error_code error;
  json::parse_options options;
  options.max_depth = 8;
  json::value value = json::parse(text, error, {}, options);
  if (error || !value.is_object()) return std::nullopt;
  return std::move(value.as_object());
}

std::optional<std::int64_t> integerClaim(const json::object& claims, const char* name) {
  const json::value* value = claims.if_contains(name);
  if (value == nullptr) return std::nullopt;
  if (value->is_int64()) return value->get_int64();
  if (value->is_uint64() && value->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
    return static_cast<std::int64_t>(value->get_uint64());
  if (value->is_double() && value->get_double() > 0 && value->get_double() < 9.2e18)
    return static_cast<std::int64_t>(value->get_double());
  return std::nullopt;
}

bool audienceMatches(const json::value* audience, const std::string& wanted) {
  if (audience == nullptr) return false;
  if (audience->is_string()) return audience->get_string() == wanted;
  if (!audience->is_array()) return false;
  const auto& list = audience->get_array();
  return std::any_of(list.begin(), list.end(),
                     [&](const json::value& v) { return v.is_string() && v.get_string() == wanted; });
}

// A secret read from a file others cannot read; `what` names it in errors.
std::string readSecretFile(const ConfigNode& node, const std::string& path, Diagnostics& diagnostics) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    diagnostics.error(node.location(), "cannot read " + path);
    return {};
  }
  if ((info.st_mode & 077) != 0) {
    diagnostics.error(node.location(), path + " is readable by others; chmod 600 it");
    return {};
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!bytes.empty() && (bytes.back() == '\n' || bytes.back() == '\r')) bytes.pop_back();
  return bytes;
}

std::optional<std::string> decodeKey(std::string_view text) {
  std::string raw(crypto_sign_PUBLICKEYBYTES, '\0');
  std::size_t length = 0;
  if (text.size() == crypto_sign_PUBLICKEYBYTES * 2 &&
      sodium_hex2bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), text.data(), text.size(),
                     nullptr, &length, nullptr) == 0 &&
      length == raw.size())
    return raw;
  for (int variant : {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_URLSAFE_NO_PADDING}) {
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), text.data(), text.size(),
                          nullptr, &length, nullptr, variant) == 0 &&
        length == raw.size())
      return raw;
  }
  return std::nullopt;
}

JwtIssuer readIssuer(const ConfigNode& node, Diagnostics& diagnostics) {
  JwtIssuer issuer;
  ConfigReader reader(node, diagnostics);
  issuer.issuer = reader.require<std::string>("issuer");
  issuer.audience = reader.require<std::string>("audience");
  issuer.role = reader.get<std::string>("role", "");
  issuer.roleClaim = reader.get<std::string>("role_claim", "");
  issuer.tenantClaim = reader.get<std::string>("tenant_claim", "");
  std::string secretFile = reader.get<std::string>("hs256_secret_file", "");
  if (!secretFile.empty()) {
    issuer.hmacSecret = readSecretFile(reader.child("hs256_secret_file"), secretFile, diagnostics);
    if (!issuer.hmacSecret.empty() && issuer.hmacSecret.size() < 32)
      reader.reject("hs256_secret_file", "the secret must be at least 32 bytes (RFC 7518 3.2)");
  }
  std::string publicKey = reader.get<std::string>("ed25519_public_key", "");
  if (!publicKey.empty()) {
    auto key = decodeKey(publicKey);
    if (!key)
      reader.reject("ed25519_public_key", "expected 32 bytes as 64 hex digits or base64");
    else
      issuer.ed25519Key = *key;
  }
  std::string jwksFile = reader.get<std::string>("jwks_file", "");
  bool jwksRsa = false, jwksEd25519 = false;
  if (!jwksFile.empty()) {
    auto jwks = JwksFile::open(jwksFile);
    if (!jwks.ok()) {
      reader.reject("jwks_file", jwks.status().message());
    } else {
      issuer.jwks = std::move(jwks).value();
      for (const auto& key : *issuer.jwks->keys())
        (key.type == Jwk::Type::kRsa ? jwksRsa : jwksEd25519) = true;
    }
  }
  if (secretFile.empty() && publicKey.empty() && jwksFile.empty())
    diagnostics.error(node.location(), "an issuer needs hs256_secret_file, ed25519_public_key or jwks_file");
  const ConfigNode& algorithms = reader.child("algorithms");
  if (algorithms.isSequence()) {
    for (const auto& item : algorithms.items()) {
      std::string name = item.isScalar() ? item.text() : std::string();
      bool usable = (name == "HS256" && !secretFile.empty()) ||
                    (name == "EdDSA" && (!publicKey.empty() || !jwksFile.empty())) ||
                    (name == "RS256" && !jwksFile.empty());
      if (!usable)
        diagnostics.error(item.location(), "algorithm '" + name +
                                               "' is not usable: HS256 needs hs256_secret_file, EdDSA "
                                               "ed25519_public_key or jwks_file, RS256 jwks_file; nothing "
                                               "else (none, RS384, ES*, PS*) is accepted");
      else
        issuer.algorithms.push_back(name);
    }
  } else if (!algorithms.isNull()) {
    diagnostics.error(algorithms.location(), "'algorithms': expected a list such as [HS256] or [RS256]");
  } else {
    if (!secretFile.empty()) issuer.algorithms.emplace_back("HS256");
    if (!publicKey.empty() || jwksEd25519) issuer.algorithms.emplace_back("EdDSA");
    if (jwksRsa) issuer.algorithms.emplace_back("RS256");
  }
  reader.finish();
  return issuer;
}

}  // namespace

std::optional<std::string> base64UrlDecode(std::string_view text) {
  std::string out(text.size() * 3 / 4 + 3, '\0');
  std::size_t length = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(),
                        nullptr, &length, &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != text.data() + text.size())
    return std::nullopt;
  out.resize(length);
  return out;
}

std::string base64UrlEncode(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

JwtSettings readJwtSettings(const ConfigNode& node, Diagnostics& diagnostics) {
  JwtSettings settings;
  if (node.isNull()) return settings;
  ConfigReader reader(node, diagnostics);
  auto leeway = reader.get<std::chrono::milliseconds>("leeway", std::chrono::seconds(60));
  if (leeway > std::chrono::minutes(5))
    reader.reject("leeway", "must be at most 5m (RFC 8725: a small clock skew)");
  else
    settings.leeway = std::chrono::duration_cast<std::chrono::seconds>(leeway);
  std::int64_t maxBytes = reader.get<std::int64_t>("max_token_bytes", 8192);
  if (maxBytes < 256 || maxBytes > 65536)
    reader.reject("max_token_bytes", "must be 256-65536");
  else
    settings.maxTokenBytes = static_cast<std::size_t>(maxBytes);
  const ConfigNode& issuers = reader.child("issuers");
  if (!issuers.isSequence() || issuers.items().empty())
    diagnostics.error(issuers.location(), "'issuers': expected a non-empty list");
  else
    for (const auto& item : issuers.items()) settings.issuers.push_back(readIssuer(item, diagnostics));
  reader.finish();
  return settings;
}

Result<JwtIdentity> JwtVerifier::verify(std::string_view token, std::int64_t nowSeconds) const {
  if (token.size() > settings_.maxTokenBytes) return refused("token too large");
  std::size_t first = token.find('.');
  std::size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
    return refused("not a JWT (header.payload.signature)");
  auto headerText = base64UrlDecode(token.substr(0, first));
  auto payloadText = base64UrlDecode(token.substr(first + 1, second - first - 1));
  auto signature = base64UrlDecode(token.substr(second + 1));
  if (!headerText || !payloadText || !signature) return refused("not a JWT: bad base64url");
  auto header = parseObject(*headerText);
  auto claims = parseObject(*payloadText);
  if (!header || !claims) return refused("not a JWT: header or claims are not a JSON object");
  const json::value* alg = header->if_contains("alg");
  if (alg == nullptr || !alg->is_string()) return refused("JWT without alg");
  std::string algorithm(alg->get_string());
  if (header->contains("crit")) return refused("JWT with crit header parameters is not supported");
  std::string kid;
  if (const json::value* k = header->if_contains("kid")) {
    if (!k->is_string() || k->get_string().size() > 256) return refused("JWT kid is not a short string");
    kid = std::string(k->get_string());
  }

  const json::value* iss = claims->if_contains("iss");
  const JwtIssuer* issuer = nullptr;
  if (iss != nullptr && iss->is_string())
    for (const auto& candidate : settings_.issuers)
      if (candidate.issuer == iss->get_string()) issuer = &candidate;
  if (issuer == nullptr) return refused("JWT from an unknown issuer");
  if (std::find(issuer->algorithms.begin(), issuer->algorithms.end(), algorithm) == issuer->algorithms.end())
    return refused("JWT alg not allowed for this issuer");

  std::string_view signedPart = token.substr(0, second);
  const auto* message = reinterpret_cast<const unsigned char*>(signedPart.data());
  bool valid = false;
  if (algorithm == "HS256" && !issuer->hmacSecret.empty()) {
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(issuer->hmacSecret.data()),
                                issuer->hmacSecret.size());
    crypto_auth_hmacsha256_update(&state, message, signedPart.size());
    crypto_auth_hmacsha256_final(&state, mac);
    valid = signature->size() == sizeof mac && sodium_memcmp(mac, signature->data(), sizeof mac) == 0;
  } else if (algorithm == "EdDSA" || algorithm == "RS256") {
    // The JWKS snapshot stays alive while its key is used.
    std::shared_ptr<const JwkSet> keys;
    std::string_view ed25519 = issuer->ed25519Key;
    const Jwk* key = nullptr;
    if (issuer->jwks && (algorithm == "RS256" || ed25519.empty())) {
      keys = issuer->jwks->keys();
      auto selected = selectKey(*keys, kid, algorithm);
      if (!selected.ok()) return selected.status();
      key = *selected;
      ed25519 = key->ed25519;
    }
    if (algorithm == "RS256")
      valid = key != nullptr && key->rsa.verifySha256(signedPart, *signature);
    else
      valid = ed25519.size() == crypto_sign_PUBLICKEYBYTES && signature->size() == crypto_sign_BYTES &&
              crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature->data()), message,
                                          signedPart.size(),
                                          reinterpret_cast<const unsigned char*>(ed25519.data())) == 0;
  }
  if (!valid) return refused("JWT signature does not verify");

  const std::int64_t leeway = settings_.leeway.count();
  auto expires = integerClaim(*claims, "exp");
  if (!expires) return refused("JWT without exp");
  if (nowSeconds >= *expires + leeway) return refused("JWT expired");
  if (auto notBefore = integerClaim(*claims, "nbf"); claims->contains("nbf") && !notBefore)
    return refused("JWT nbf is not a number");
  else if (notBefore && nowSeconds + leeway < *notBefore)
    return refused("JWT not yet valid");
  if (!audienceMatches(claims->if_contains("aud"), issuer->audience))
    return refused("JWT for another audience");
  const json::value* subject = claims->if_contains("sub");
  if (subject == nullptr || !subject->is_string() || subject->get_string().empty() ||
      subject->get_string().size() > 256)
    return refused("JWT without a sub");

  JwtIdentity identity;
  identity.issuer = issuer->issuer;
  identity.subject = std::string(subject->get_string());
  identity.role = issuer->role;
  if (!issuer->roleClaim.empty())
    if (const json::value* role = claims->if_contains(issuer->roleClaim);
        role != nullptr && role->is_string())
      identity.role = std::string(role->get_string());
  if (!issuer->tenantClaim.empty())
    if (const json::value* tenant = claims->if_contains(issuer->tenantClaim); tenant != nullptr) {
      if (!tenant->is_string() || !isLabel(tenant->get_string()))
        return refused("JWT with a malformed " + issuer->tenantClaim + " claim (1-64 of [A-Za-z0-9._-])");
      identity.tenant = std::string(tenant->get_string());
    }
  return identity;
}

std::vector<JwtVerifier::KeyChange> JwtVerifier::reloadChangedKeys() const {
  std::vector<KeyChange> changes;
  for (const auto& issuer : settings_.issuers) {
    if (!issuer.jwks) continue;
    auto changed = issuer.jwks->reloadIfChanged();
    if (!changed) continue;
    if (changed->ok())
      changes.push_back({true, "JWKS of " + issuer.issuer + " reloaded from " + issuer.jwks->path() + " (" +
                                   std::to_string(issuer.jwks->keys()->size()) + " keys)"});
    else
      changes.push_back({false, "JWKS of " + issuer.issuer +
                                    " not reloaded, the previous keys stay in use: " + changed->message()});
  }
  return changes;
}

}  // namespace hive::security_manager
