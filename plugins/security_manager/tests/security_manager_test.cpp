// security_manager: the key format and digests, the role table, the config
// section and the authenticator as units; then the real plugin loaded from its
// .so on the real storage_sqlite, as two nodes sharing one store.
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <set>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "api_key.hpp"
#include "config.hpp"
#include "hive/services/auth.hpp"
#include "hive/services/projects.hpp"
#include "hive/services/secrets.hpp"
#include "hive/services/store.hpp"
#include "hive/testing/harness.hpp"
#include "hive/testing/routes.hpp"
#include "jwks.hpp"
#include "jwt.hpp"
#include "key_authenticator.hpp"
#include "rate_limiter.hpp"
#include "roles.hpp"

namespace hive::security_manager {
namespace {

namespace json = boost::json;
using hive::testing::PluginHarness;

// ---- key format and digests ----

TEST(SecurityApiKey, GeneratedKeyParsesBackAndKeysDiffer) {
  ASSERT_TRUE(cryptoReady());
  NewKey first = generateKey(), second = generateKey();
  auto parsed = parseKey(first.text);
  ASSERT_TRUE(parsed.has_value()) << first.text;
  EXPECT_EQ(parsed->id, first.id);
  EXPECT_EQ(parsed->secret, first.secret);
  EXPECT_EQ(first.secret.size(), kSecretHexDigits);
  EXPECT_NE(first.id, second.id);
  EXPECT_NE(first.secret, second.secret);
}

TEST(SecurityApiKey, MalformedKeysAreRefused) {
  NewKey key = generateKey();
  std::string upper = key.text;
  upper.back() = 'A';
  for (const std::string& bad :
       {std::string(), std::string("hive_"), key.text.substr(1), "xive" + key.text.substr(4), key.text + "0",
        key.text.substr(0, key.text.size() - 1), upper, "hive_" + key.id + "-" + key.secret,
        "hive_" + key.id + "_" + key.secret.substr(0, 63) + "g"})
    EXPECT_FALSE(parseKey(bad).has_value()) << bad;
}

TEST(SecurityApiKey, DigestDependsOnSecretSaltAndPepper) {
  ASSERT_TRUE(cryptoReady());
  NewKey key = generateKey();
  std::string salt = randomHex(kSaltHexDigits / 2), otherSalt = randomHex(kSaltHexDigits / 2);
  std::string pepper(kPepperBytes, 'p');
  std::string digest = secretDigest(salt, key.secret, pepper);
  EXPECT_TRUE(secretMatches(salt, key.secret, pepper, digest));
  EXPECT_FALSE(secretMatches(salt, generateKey().secret, pepper, digest));
  EXPECT_FALSE(secretMatches(otherSalt, key.secret, pepper, digest));
  EXPECT_FALSE(secretMatches(salt, key.secret, "", digest));
  EXPECT_FALSE(secretMatches(salt, key.secret, pepper, digest.substr(1)));
  EXPECT_EQ(digest.find(key.secret), std::string::npos);
  EXPECT_NE(secretDigest(salt, key.secret, ""), secretDigest(otherSalt, key.secret, ""));
}

// ---- roles ----

TEST(SecurityRoles, BuiltInRolesGrantWhatDocsSecuritySays) {
  Roles roles;
  for (const char* permission : {"security:write", "admin:write", "tasks:write", "agents:connect", "x:y"})
    EXPECT_TRUE(roles.allows("admin", permission)) << permission;
  EXPECT_TRUE(roles.allows("operator", "admin:write"));
  EXPECT_TRUE(roles.allows("operator", "agents:write"));
  EXPECT_FALSE(roles.allows("operator", "security:read"));
  EXPECT_FALSE(roles.allows("operator", "agents:connect"));
  EXPECT_TRUE(roles.allows("submitter", "tasks:write"));
  EXPECT_FALSE(roles.allows("submitter", "agents:write"));
  EXPECT_FALSE(roles.allows("submitter", "admin:read"));
  EXPECT_TRUE(roles.allows("agent", "agents:connect"));
  EXPECT_FALSE(roles.allows("agent", "tasks:read"));
  EXPECT_TRUE(roles.allows("viewer", "tasks:read"));
  EXPECT_FALSE(roles.allows("viewer", "tasks:write"));
  EXPECT_FALSE(roles.allows("viewer", "security:read"));
  EXPECT_FALSE(roles.allows("nobody", "tasks:read"));
}

TEST(SecurityRoles, ResourceWildcardGrantsEveryActionOfThatResourceOnly) {
  Roles roles({{"ci", {"tasks:*", "agents:read"}}});
  EXPECT_TRUE(roles.allows("ci", "tasks:write"));
  EXPECT_TRUE(roles.allows("ci", "tasks:cancel"));
  EXPECT_TRUE(roles.allows("ci", "agents:read"));
  EXPECT_FALSE(roles.allows("ci", "agents:write"));
  EXPECT_FALSE(roles.allows("ci", "taskss:read"));
  EXPECT_TRUE(validPermissionPattern("*"));
  EXPECT_FALSE(validPermissionPattern("admin.read"));
  EXPECT_FALSE(validPermissionPattern("tasks:"));
  EXPECT_FALSE(validPermissionPattern("*:read"));
}

// ---- config ----

ConfigNode yamlish(std::initializer_list<std::pair<std::string, std::vector<std::string>>> roles) {
  auto section = ConfigNode::map();
  auto map = ConfigNode::map();
  int line = 3;
  for (const auto& [name, permissions] : roles) {
    auto list = ConfigNode::sequence({"hive.yaml", line, 11});
    for (const auto& permission : permissions)
      list.push(ConfigNode::scalar(permission, {"hive.yaml", line, 12}));
    map.set(name, std::move(list), {"hive.yaml", line++, 7});
  }
  section.set("roles", std::move(map), {"hive.yaml", 2, 5});
  return section;
}

TEST(SecurityConfig, EmptySectionNeedsNoSettings) {
  Diagnostics diagnostics;
  Settings settings = readSettings(ConfigNode::map(), diagnostics);
  EXPECT_FALSE(diagnostics.hasErrors());
  EXPECT_TRUE(settings.roles.empty());
  EXPECT_TRUE(settings.pepper.empty());
}

TEST(SecurityConfig, CustomRolesAreReadAndBadOnesNamedWithTheirLine) {
  Diagnostics good;
  Settings settings = readSettings(yamlish({{"ci", {"tasks:read", "tasks:write"}}}), good);
  EXPECT_FALSE(good.hasErrors());
  ASSERT_EQ(settings.roles.count("ci"), 1u);
  EXPECT_EQ(settings.roles.at("ci").size(), 2u);

  Diagnostics bad;
  readSettings(yamlish({{"admin", {"tasks:read"}}, {"ci", {"admin.read"}}}), bad);
  ASSERT_EQ(bad.errorCount(), 2u);
  std::string all;
  for (const auto& d : bad.items()) all += d.toString() + "\n";
  EXPECT_NE(all.find("hive.yaml:3"), std::string::npos) << all;
  EXPECT_NE(all.find("built in"), std::string::npos) << all;
  EXPECT_NE(all.find("'admin.read' is not a permission"), std::string::npos) << all;
}

TEST(SecurityConfig, OutOfRangeRefreshAndReadablePepperFileAreRefused) {
  auto dir = std::filesystem::temp_directory_path() / ("hive-sm-" + randomHex(4));
  std::filesystem::create_directories(dir);
  std::string pepperPath = (dir / "pepper").string();
  std::ofstream(pepperPath) << std::string(64, 'a') << "\n";
  ::chmod(pepperPath.c_str(), 0644);
  auto section = hive::testing::configFromPairs({{"refresh_interval", "10ms"}, {"pepper_file", pepperPath}});
  Diagnostics diagnostics;
  readSettings(section, diagnostics);
  EXPECT_EQ(diagnostics.errorCount(), 2u);
  ::chmod(pepperPath.c_str(), 0600);
  Diagnostics fine;
  Settings settings = readSettings(hive::testing::configFromPairs({{"pepper_file", pepperPath}}), fine);
  EXPECT_FALSE(fine.hasErrors());
  EXPECT_EQ(settings.pepper, std::string(kPepperBytes, '\xaa'));
  std::filesystem::remove_all(dir);
}

TEST(SecurityConfig, LifetimesTakeSecondsMinutesHoursDays) {
  EXPECT_EQ(parseLifetime("30d"), std::chrono::milliseconds(30LL * 86'400'000));
  EXPECT_EQ(parseLifetime("90m"), std::chrono::milliseconds(90LL * 60'000));
  EXPECT_EQ(parseLifetime("1s"), std::chrono::milliseconds(1000));
  for (const char* bad : {"", "30", "d", "-1d", "0d", "1w", "99999999999d", "1.5h"})
    EXPECT_FALSE(parseLifetime(bad).has_value()) << bad;
}

// ---- the authenticator ----

struct Issued {
  KeyRecord record;
  std::string key;
};

Issued issue(std::string role, std::string agent = {}) {
  NewKey key = generateKey();
  KeyRecord record;
  record.id = key.id;
  record.name = "n" + key.id;
  record.role = std::move(role);
  record.agent = std::move(agent);
  record.salt = randomHex(kSaltHexDigits / 2);
  record.digest = secretDigest(record.salt, key.secret, "");
  return {record, key.text};
}

http::Request withHeader(std::string name, std::string value) {
  http::Request request;
  request.headers.push_back({std::move(name), std::move(value)});
  return request;
}

TEST(SecurityKeyAuthenticator, AnswersEachCaseWithItsCode) {
  ASSERT_TRUE(cryptoReady());
  std::int64_t now = 1'000'000;
  KeyAuthenticator authenticator(std::make_shared<const Roles>(), "", [&] { return now; });
  Issued viewer = issue("viewer"), agent = issue("agent", "builder-1"), expiring = issue("admin");
  expiring.record.expiresAtMs = now + 1000;
  authenticator.replaceAll({viewer.record, agent.record, expiring.record});

  auto missing = authenticator.authorize(http::Request{}, "tasks:read");
  EXPECT_FALSE(missing.allowed);
  EXPECT_EQ(missing.code, StatusCode::kUnauthenticated);

  auto malformed = authenticator.authorize(withHeader("authorization", "Bearer nope"), "tasks:read");
  EXPECT_EQ(malformed.code, StatusCode::kUnauthenticated);

  std::string wrongSecret = viewer.key;
  wrongSecret.back() = wrongSecret.back() == '0' ? '1' : '0';
  auto wrong = authenticator.authorize(withHeader("authorization", "Bearer " + wrongSecret), "tasks:read");
  EXPECT_FALSE(wrong.allowed);
  EXPECT_EQ(wrong.code, StatusCode::kUnauthenticated);
  EXPECT_TRUE(wrong.principal.empty());

  auto allowed = authenticator.authorize(withHeader("authorization", "bearer  " + viewer.key), "tasks:read");
  EXPECT_TRUE(allowed.allowed);
  EXPECT_EQ(allowed.principal, "key:" + viewer.record.id);

  auto byHeader = authenticator.authorize(withHeader("x-api-key", viewer.key), "tasks:read");
  EXPECT_TRUE(byHeader.allowed);

  auto denied = authenticator.authorize(withHeader("x-api-key", viewer.key), "tasks:write");
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.code, StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.principal, "key:" + viewer.record.id);

  auto connecting = authenticator.authorize(withHeader("x-api-key", agent.key), "agents:connect");
  EXPECT_TRUE(connecting.allowed);
  EXPECT_EQ(connecting.principal, "agent:builder-1");

  EXPECT_TRUE(authenticator.authorize(withHeader("x-api-key", expiring.key), "security:write").allowed);
  now += 1000;
  auto expired = authenticator.authorize(withHeader("x-api-key", expiring.key), "security:write");
  EXPECT_FALSE(expired.allowed);
  EXPECT_EQ(expired.code, StatusCode::kUnauthenticated);

  KeyRecord revoked = viewer.record;
  revoked.revokedAtMs = now;
  authenticator.upsert(revoked);
  EXPECT_EQ(authenticator.authorize(withHeader("x-api-key", viewer.key), "tasks:read").code,
            StatusCode::kUnauthenticated);
}

// hive.tenancy/1 for keys: a key's tenant; `admin` (tenants:all) spans them;
// an agent principal is its agent key's; anything unknown is the default
// tenant and no more.
TEST(SecurityKeyAuthenticator, TenancyScopesAKeyToItsTenantAndAdminToEveryTenant) {
  ASSERT_TRUE(cryptoReady());
  auto authenticator = std::make_shared<KeyAuthenticator>(std::make_shared<const Roles>(), "");
  Issued acme = issue("submitter"), admin = issue("admin"), agent = issue("agent", "builder-1"),
         plain = issue("viewer"), gone = issue("agent", "old-1");
  acme.record.tenant = "acme";
  agent.record.tenant = "globex";
  gone.record.tenant = "globex";
  gone.record.revokedAtMs = 1;
  authenticator->replaceAll({acme.record, admin.record, agent.record, plain.record, gone.record});
  KeyTenancy tenancy(authenticator);

  auto scope = tenancy.scopeOf("key:" + acme.record.id);
  EXPECT_EQ(scope.tenant, "acme");
  EXPECT_FALSE(scope.allTenants);
  EXPECT_TRUE(scope.sees("acme"));
  EXPECT_FALSE(scope.sees(""));
  EXPECT_FALSE(scope.sees("globex"));
  EXPECT_TRUE(tenancy.scopeOf("key:" + admin.record.id).allTenants);
  // A named tenant's agent is "agent+<tenant>:<name>": two tenants' agents of one name are two principals.
  EXPECT_EQ(tenancy.scopeOf("agent+globex:builder-1").tenant, "globex");
  EXPECT_EQ(tenancy.scopeOf("agent:builder-1").tenant, "") << "no default-tenant key for builder-1";
  EXPECT_EQ(tenancy.scopeOf("agent+acme:builder-1").tenant, "") << "no acme key for builder-1";
  http::Request connecting = withHeader("authorization", "Bearer " + agent.key);
  EXPECT_EQ(authenticator->authorize(connecting, "agents:connect").principal, "agent+globex:builder-1");
  EXPECT_EQ(tenancy.scopeOf("key:" + plain.record.id).tenant, "");
  EXPECT_FALSE(tenancy.scopeOf("key:" + plain.record.id).sees("acme"));
  for (const std::string unknown : {"", "key:0000000000000000", "agent:old-1", "jwt:nobody", "someone"}) {
    auto none = tenancy.scopeOf(unknown);
    EXPECT_EQ(none.tenant, "") << unknown;
    EXPECT_FALSE(none.allTenants) << unknown;
  }
}

// ---- rate limits ----

RateLimitSettings limits(LimitTable defaults) {
  RateLimitSettings settings;
  settings.defaults = std::move(defaults);
  return settings;
}

class CountingCounter final : public Counter {
 public:
  void increment(double amount) override { value_ += amount; }
  double value() const override { return value_; }

 private:
  double value_ = 0;
};

TEST(SecurityRateLimiter, ABurstThenOneTokenPerIntervalPerPrincipalAndClass) {
  CountingCounter limited;
  RateLimiter limiter(limits({{"read", RateLimit{2, 3}}, {"write", RateLimit{1, 1}}}), limited);
  std::int64_t now = 5'000;
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(limiter.take("key:a", "viewer", "tasks:read", now)) << i;
  auto refused = limiter.take("key:a", "viewer", "tasks:read", now);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->bucket, "read");
  EXPECT_EQ(refused->limit, 3);
  EXPECT_EQ(refused->retryAfterSeconds, 1);
  EXPECT_FALSE(limiter.take("key:b", "viewer", "tasks:read", now)) << "another principal has its own bucket";
  EXPECT_FALSE(limiter.take("key:a", "viewer", "tasks:write", now)) << "writes have their own bucket";
  EXPECT_TRUE(limiter.take("key:a", "viewer", "agents:write", now)) << "every non-read action is a write";
  EXPECT_TRUE(limiter.take("key:a", "viewer", "tasks:read", now + 499));
  EXPECT_FALSE(limiter.take("key:a", "viewer", "tasks:read", now + 500)) << "2 per second: one every 500 ms";
  EXPECT_TRUE(limiter.take("key:a", "viewer", "tasks:read", now + 500));
  EXPECT_EQ(limited.value(), 4);
  // A clock stepping back refills nothing and drains nothing.
  EXPECT_TRUE(limiter.take("key:a", "viewer", "tasks:read", now - 10'000));
}

TEST(SecurityRateLimiter, PermissionQuotasRoleAndPrincipalOverridesAndOff) {
  CountingCounter limited;
  RateLimitSettings settings = limits({{"read", RateLimit{100, 100}},
                                       {"write", RateLimit{100, 100}},
                                       {"tasks:write", RateLimit{3.0 / 3600, 3}}});
  settings.roles["agent"]["write"] = RateLimit{1000, 1000};
  settings.roles["agent"]["tasks:write"] = LimitSetting{};  // off
  settings.principals["key:ci"]["tasks:write"] = RateLimit{10.0 / 3600, 10};
  RateLimiter limiter(settings, limited);
  std::int64_t now = 0;
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(limiter.take("key:u", "submitter", "tasks:write", now));
  auto quota = limiter.take("key:u", "submitter", "tasks:write", now);
  ASSERT_TRUE(quota);
  EXPECT_EQ(quota->bucket, "tasks:write");
  EXPECT_EQ(quota->retryAfterSeconds, 1200) << "3 an hour: the next in 20 minutes";
  EXPECT_FALSE(limiter.take("key:u", "submitter", "workflows:write", now)) << "the write class has room left";
  EXPECT_FALSE(limiter.take("key:u", "submitter", "tasks:read", now));
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(limiter.take("key:ci", "submitter", "tasks:write", now)) << i;
  EXPECT_TRUE(limiter.take("key:ci", "submitter", "tasks:write", now)) << "the principal's own quota";
  for (int i = 0; i < 500; ++i) ASSERT_FALSE(limiter.take("agent:a", "agent", "tasks:write", now)) << i;
}

TEST(SecurityRateLimiter, ARefusalByOneBucketTakesNothingFromTheOther) {
  CountingCounter limited;
  RateLimiter limiter(limits({{"write", RateLimit{1, 2}}, {"tasks:write", RateLimit{1, 1}}}), limited);
  EXPECT_FALSE(limiter.take("p", "r", "tasks:write", 0));
  EXPECT_TRUE(limiter.take("p", "r", "tasks:write", 0));  // tasks:write empty, write has 1 left
  EXPECT_FALSE(limiter.take("p", "r", "agents:write", 0)) << "the refusal did not draw from write";
  EXPECT_TRUE(limiter.take("p", "r", "agents:write", 0));
}

TEST(SecurityRateLimiter, IdleBucketsAreForgottenAtMaxTrackedAndBeyondItNothingIsRefused) {
  CountingCounter limited;
  RateLimitSettings settings = limits({{"read", RateLimit{1, 1}}});
  settings.maxTracked = 100;
  RateLimiter limiter(settings, limited);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(limiter.take("p" + std::to_string(i), "r", "x:read", 0));
  EXPECT_EQ(limiter.tracked(), 100u);
  EXPECT_FALSE(limiter.take("late", "r", "x:read", 0)) << "all busy: the newcomer is not tracked";
  EXPECT_FALSE(limiter.take("late", "r", "x:read", 0));
  EXPECT_FALSE(limiter.take("later", "r", "x:read", 2000));
  EXPECT_EQ(limiter.tracked(), 1u) << "after refilling, every old bucket was idle";
}

TEST(SecurityRateLimitConfig, RatesBurstsOverridesAndErrorsAtTheirLine) {
  Diagnostics none;
  RateLimitSettings defaults = readRateLimits(ConfigNode::null(), none);
  EXPECT_TRUE(defaults.enabled);
  EXPECT_EQ(defaults.defaults.at("read")->perSecond, 100);
  EXPECT_EQ(defaults.defaults.at("read")->burst, 200);
  EXPECT_EQ(defaults.defaults.at("write")->perSecond, 50);
  EXPECT_EQ(defaults.failedAuth->burst, 100);

  auto limit = [](std::string rate, std::string burst, int line) {
    auto node = ConfigNode::map({"hive.yaml", line, 7});
    node.set("rate", ConfigNode::scalar(std::move(rate), {"hive.yaml", line, 13}));
    if (!burst.empty()) node.set("burst", ConfigNode::scalar(std::move(burst), {"hive.yaml", line, 30}));
    return node;
  };
  auto section = ConfigNode::map();
  section.set("read", limit("600/m", "20", 3));
  section.set("write", ConfigNode::scalar("off"));
  auto permissions = ConfigNode::map();
  permissions.set("tasks:write", limit("1000/h", "", 5));
  section.set("permissions", std::move(permissions));
  auto agent = ConfigNode::map();
  agent.set("read", limit("2.5", "5", 7));
  auto roles = ConfigNode::map();
  roles.set("agent", std::move(agent));
  section.set("roles", std::move(roles));
  Diagnostics fine;
  RateLimitSettings read = readRateLimits(section, fine);
  ASSERT_FALSE(fine.hasErrors()) << (fine.items().empty() ? "" : fine.items().front().toString());
  EXPECT_EQ(read.defaults.at("read")->perSecond, 10);
  EXPECT_EQ(read.defaults.at("read")->burst, 20);
  EXPECT_FALSE(read.defaults.at("write").has_value());
  EXPECT_DOUBLE_EQ(read.defaults.at("tasks:write")->perSecond, 1000.0 / 3600);
  EXPECT_EQ(read.defaults.at("tasks:write")->burst, 1) << "burst defaults to a second's worth, at least 1";
  EXPECT_EQ(read.roles.at("agent").at("read")->perSecond, 2.5);

  for (auto [rate, burst] : {std::pair<std::string, std::string>{"fast", "1"},
                             {"0/s", "1"},
                             {"5/d", "1"},
                             {"-1", "1"},
                             {"5/s", "0"}}) {
    auto bad = ConfigNode::map();
    bad.set("read", limit(rate, burst, 9));
    Diagnostics refused;
    readRateLimits(bad, refused);
    ASSERT_TRUE(refused.hasErrors()) << rate << " " << burst;
    EXPECT_NE(refused.items().front().toString().find("hive.yaml:9:"), std::string::npos)
        << refused.items().front().toString();
  }
  auto unknown = ConfigNode::map();
  unknown.set("reads", limit("1/s", "1", 11), {"hive.yaml", 11, 3});
  auto misnamed = ConfigNode::map();
  misnamed.set("tasks", limit("1/s", "1", 12), {"hive.yaml", 12, 5});
  auto roleTable = ConfigNode::map();
  roleTable.set("viewer", std::move(misnamed));
  auto badRoles = ConfigNode::map();
  badRoles.set("roles", std::move(roleTable));
  for (auto* bad : {&unknown, &badRoles}) {
    Diagnostics refused;
    readRateLimits(*bad, refused);
    ASSERT_TRUE(refused.hasErrors());
  }
}

TEST(SecurityKeyAuthenticator, RateLimitedCallersGet429DetailsAndAnAddressOutOfFailuresIsRefusedFirst) {
  ASSERT_TRUE(cryptoReady());
  std::int64_t now = 1'000'000;
  KeyAuthenticator authenticator(std::make_shared<const Roles>(), "", [&] { return now; });
  CountingCounter limited;
  RateLimitSettings settings = limits({{"read", RateLimit{1, 2}}});
  settings.failedAuth = RateLimit{0.1, 3};
  authenticator.setRateLimiter(std::make_shared<RateLimiter>(settings, limited));
  Issued viewer = issue("viewer");
  authenticator.replaceAll({viewer.record});
  auto from = [&](std::string address, std::string key) {
    http::Request request = withHeader("x-api-key", std::move(key));
    request.remoteAddress = std::move(address);
    return request;
  };
  EXPECT_TRUE(authenticator.authorize(from("10.0.0.1:1000", viewer.key), "tasks:read").allowed);
  EXPECT_TRUE(authenticator.authorize(from("10.0.0.1:1001", viewer.key), "tasks:read").allowed);
  auto refused = authenticator.authorize(from("10.0.0.2:1000", viewer.key), "tasks:read");
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.code, StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.principal, "key:" + viewer.record.id);
  EXPECT_EQ(refused.reason.substr(0, refused.reason.find('\n')),
            "rate limit 'read' exceeded (2 at most at once); retry in 1 s");
  EXPECT_NE(refused.reason.find("\nretry-after: 1\n"), std::string::npos) << refused.reason;
  EXPECT_NE(refused.reason.find("\nratelimit-limit: 2\n"), std::string::npos);
  EXPECT_NE(refused.reason.find("\nratelimit-remaining: 0\n"), std::string::npos);
  EXPECT_TRUE(authenticator.authorize(from("10.0.0.1:1000", viewer.key), "").allowed)
      << "public: not limited";
  now += 1000;
  EXPECT_TRUE(authenticator.authorize(from("10.0.0.1:1000", viewer.key), "tasks:read").allowed);

  std::string wrong = viewer.key;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(authenticator.authorize(from("[2001:db8::7]:5000", wrong), "tasks:read").code,
              StatusCode::kUnauthenticated);
  auto blocked = authenticator.authorize(from("[2001:db8::7]:5001", viewer.key), "tasks:write");
  EXPECT_EQ(blocked.code, StatusCode::kResourceExhausted) << "even a good key, from that address";
  EXPECT_NE(blocked.reason.find("'failed_auth'"), std::string::npos);
  EXPECT_NE(blocked.reason.find("retry-after: 10"), std::string::npos) << blocked.reason;
  EXPECT_EQ(authenticator.authorize(from("10.0.0.3:1", viewer.key), "tasks:write").code,
            StatusCode::kPermissionDenied)
      << "another address is not blocked";
  now += 10'000;
  EXPECT_EQ(authenticator.authorize(from("[2001:db8::7]:5001", viewer.key), "tasks:write").code,
            StatusCode::kPermissionDenied);
}

TEST(SecurityRateLimiter, AddressesWithoutThePort) {
  EXPECT_EQ(addressOf("10.1.2.3:8080"), "10.1.2.3");
  EXPECT_EQ(addressOf("[::1]:8080"), "::1");
  EXPECT_EQ(addressOf("local"), "local");
  EXPECT_EQ(addressOf("::1"), "::1");
}

// ---- JWT ----

constexpr std::int64_t kNow = 1'800'000'000;  // seconds

std::string hs256(std::string_view message, std::string_view secret) {
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(message.data()),
                                message.size());
  crypto_auth_hmacsha256_final(&state, mac);
  return std::string(reinterpret_cast<char*>(mac), sizeof mac);
}

struct Signer {
  std::string alg;
  std::function<std::string(std::string_view)> sign;
};

std::string token(const std::string& header, const std::string& claims, const Signer& signer) {
  std::string signedPart = base64UrlEncode(header) + "." + base64UrlEncode(claims);
  return signedPart + "." + base64UrlEncode(signer.sign(signedPart));
}

std::string claimsFor(std::int64_t exp, std::string extra = {}, std::string iss = "https://idp.test",
                      std::string aud = "\"hive\"") {
  return "{\"iss\":\"" + iss + "\",\"aud\":" + aud + ",\"sub\":\"alice\",\"exp\":" + std::to_string(exp) +
         extra + "}";
}

class SecurityJwt : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cryptoReady());
    crypto_sign_keypair(publicKey_, secretKey_);
    JwtIssuer hmac{.issuer = "https://idp.test",
                   .audience = "hive",
                   .hmacSecret = secret_,
                   .algorithms = {"HS256"},
                   .role = "viewer",
                   .roleClaim = "hive_role",
                   .tenantClaim = "org"};
    JwtIssuer edwards{.issuer = "https://ed.test",
                      .audience = "hive",
                      .ed25519Key = std::string(reinterpret_cast<char*>(publicKey_), sizeof publicKey_),
                      .algorithms = {"EdDSA"},
                      .role = "submitter"};
    JwtSettings settings{
        .issuers = {hmac, edwards}, .leeway = std::chrono::seconds(30), .maxTokenBytes = 8192};
    authenticator_ = std::make_unique<KeyAuthenticator>(
        std::make_shared<const Roles>(), "", [] { return kNow * 1000; }, settings);
  }

  Signer hmacSigner() const {
    return {"HS256", [this](std::string_view m) { return hs256(m, secret_); }};
  }
  Signer edSigner() const {
    return {"EdDSA", [this](std::string_view m) {
              std::string signature(crypto_sign_BYTES, '\0');
              crypto_sign_detached(reinterpret_cast<unsigned char*>(signature.data()), nullptr,
                                   reinterpret_cast<const unsigned char*>(m.data()), m.size(), secretKey_);
              return signature;
            }};
  }
  auth::Decision check(const std::string& bearer, std::string_view permission = "tasks:read") {
    return authenticator_->authorize(withHeader("authorization", "Bearer " + bearer), permission);
  }

  std::string secret_ = std::string(32, 's');
  unsigned char publicKey_[crypto_sign_PUBLICKEYBYTES];
  unsigned char secretKey_[crypto_sign_SECRETKEYBYTES];
  std::unique_ptr<KeyAuthenticator> authenticator_;
};

TEST_F(SecurityJwt, ValidHs256AndEdDsaTokensAuthenticateWithTheirRole) {
  auto viewer = check(token(R"({"alg":"HS256","typ":"JWT"})", claimsFor(kNow + 60), hmacSigner()));
  EXPECT_TRUE(viewer.allowed) << viewer.reason;
  EXPECT_EQ(viewer.principal, "jwt:alice");
  EXPECT_EQ(check(token(R"({"alg":"HS256"})", claimsFor(kNow + 60), hmacSigner()), "tasks:write").code,
            StatusCode::kPermissionDenied);
  auto agent =
      check(token(R"({"alg":"HS256"})", claimsFor(kNow + 60, R"(,"hive_role":"agent")"), hmacSigner()),
            "agents:connect");
  EXPECT_TRUE(agent.allowed) << agent.reason;
  EXPECT_EQ(agent.principal, "agent:alice");
  auto ed = check(
      token(R"({"alg":"EdDSA"})", claimsFor(kNow + 60, "", "https://ed.test", R"(["x","hive"])"), edSigner()),
      "tasks:write");
  EXPECT_TRUE(ed.allowed) << ed.reason;
  // Expired by less than the leeway, not valid before by less than it: accepted.
  EXPECT_TRUE(check(token(R"({"alg":"HS256"})", claimsFor(kNow - 29), hmacSigner())).allowed);
  EXPECT_TRUE(check(token(R"({"alg":"HS256"})",
                          claimsFor(kNow + 60, R"(,"nbf":)" + std::to_string(kNow + 29)), hmacSigner()))
                  .allowed);
}

// hive.tenancy/1 for tokens: the tenant from the issuer's tenant_claim, kept
// for the principal once its token is verified; a malformed claim is a 401.
TEST_F(SecurityJwt, ATokensTenantClaimScopesItsPrincipal) {
  EXPECT_EQ(authenticator_->scopeOf("jwt:alice").tenant, "") << "unknown before a token is seen";
  ASSERT_TRUE(
      check(token(R"({"alg":"HS256"})", claimsFor(kNow + 60, R"(,"org":"acme")"), hmacSigner())).allowed);
  auto scope = authenticator_->scopeOf("jwt:alice");
  EXPECT_EQ(scope.tenant, "acme");
  EXPECT_FALSE(scope.allTenants);
  ASSERT_TRUE(check(token(R"({"alg":"HS256"})", claimsFor(kNow + 60, R"(,"org":"acme","hive_role":"admin")"),
                          hmacSigner()))
                  .allowed);
  EXPECT_TRUE(authenticator_->scopeOf("jwt:alice").allTenants) << "admin spans tenants";
  for (const char* bad : {R"(,"org":"a/b")", R"(,"org":"")", R"(,"org":7)", R"(,"org":"a~b")"}) {
    auto refused = check(token(R"({"alg":"HS256"})", claimsFor(kNow + 60, bad), hmacSigner()));
    EXPECT_EQ(refused.code, StatusCode::kUnauthenticated) << bad;
    EXPECT_NE(refused.reason.find("org"), std::string::npos) << bad << ": " << refused.reason;
  }
}

TEST_F(SecurityJwt, EachBadTokenIs401WithoutACrash) {
  Signer none{"none", [](std::string_view) { return std::string(); }};
  // HS256 with the issuer's public Ed25519 key as the HMAC secret: the
  // algorithm confusion of RFC 8725 2.1.
  std::string publicKey(reinterpret_cast<char*>(publicKey_), sizeof publicKey_);
  Signer confused{"HS256", [&](std::string_view m) { return hs256(m, publicKey); }};
  std::string good = token(R"({"alg":"HS256"})", claimsFor(kNow + 60), hmacSigner());
  std::string flipped = good;
  flipped[flipped.size() - 3] = flipped[flipped.size() - 3] == 'A' ? 'B' : 'A';
  std::string nested(200, '[');
  std::map<std::string, std::string> cases = {
      {"alg none", token(R"({"alg":"none"})", claimsFor(kNow + 60), none)},
      {"alg none, signed", token(R"({"alg":"none"})", claimsFor(kNow + 60), hmacSigner())},
      {"HS/EdDSA confusion",
       token(R"({"alg":"HS256"})", claimsFor(kNow + 60, "", "https://ed.test"), confused)},
      {"EdDSA for an HS256 issuer", token(R"({"alg":"EdDSA"})", claimsFor(kNow + 60), edSigner())},
      {"RS256", token(R"({"alg":"RS256"})", claimsFor(kNow + 60), hmacSigner())},
      {"expired", token(R"({"alg":"HS256"})", claimsFor(kNow - 31), hmacSigner())},
      {"not yet valid", token(R"({"alg":"HS256"})",
                              claimsFor(kNow + 600, R"(,"nbf":)" + std::to_string(kNow + 31)), hmacSigner())},
      {"no exp",
       token(R"({"alg":"HS256"})", R"({"iss":"https://idp.test","aud":"hive","sub":"a"})", hmacSigner())},
      {"exp as text",
       token(R"({"alg":"HS256"})", R"({"iss":"https://idp.test","aud":"hive","sub":"a","exp":"2099"})",
             hmacSigner())},
      {"wrong audience",
       token(R"({"alg":"HS256"})", claimsFor(kNow + 60, "", "https://idp.test", R"("other")"), hmacSigner())},
      {"wrong issuer",
       token(R"({"alg":"HS256"})", claimsFor(kNow + 60, "", "https://evil.test"), hmacSigner())},
      {"bad signature", flipped},
      {"no sub", token(R"({"alg":"HS256"})", R"({"iss":"https://idp.test","aud":"hive","exp":1900000000})",
                       hmacSigner())},
      {"crit", token(R"({"alg":"HS256","crit":["x"]})", claimsFor(kNow + 60), hmacSigner())},
      {"no alg", token(R"({"typ":"JWT"})", claimsFor(kNow + 60), hmacSigner())},
      {"header not an object", token(R"(["HS256"])", claimsFor(kNow + 60), hmacSigner())},
      {"deep claims", token(R"({"alg":"HS256"})", nested, hmacSigner())},
      {"oversized", token(R"({"alg":"HS256"})",
                          claimsFor(kNow + 60, ",\"x\":\"" + std::string(9000, 'x') + "\""), hmacSigner())},
      {"two parts", "eyJhbGciOiJIUzI1NiJ9.e30"},
      {"four parts", good + ".x"},
      {"padding", good + "="},
      {"empty parts", ".."},
  };
  for (const auto& [what, bearer] : cases) {
    auto decision = check(bearer);
    EXPECT_FALSE(decision.allowed) << what;
    EXPECT_EQ(decision.code, StatusCode::kUnauthenticated) << what << ": " << decision.reason;
  }
  EXPECT_TRUE(check(good).allowed);
}

TEST_F(SecurityJwt, ATokenWithoutAKnownRoleIs403) {
  auto unknown =
      check(token(R"({"alg":"HS256"})", claimsFor(kNow + 60, R"(,"hive_role":"root")"), hmacSigner()));
  EXPECT_EQ(unknown.code, StatusCode::kPermissionDenied);
  EXPECT_EQ(unknown.principal, "jwt:alice");
}

// The `jwt:` section with one issuer: its fields located at hive.yaml:9:9,
// its `algorithms` (when any) at line 10, column 20.
ConfigNode jwtWithIssuer(const std::vector<std::pair<std::string, std::string>>& fields,
                         const std::vector<std::string>& algorithms) {
  auto node = ConfigNode::map();
  for (const auto& [key, value] : fields) node.set(key, ConfigNode::scalar(value, {"hive.yaml", 9, 9}));
  if (!algorithms.empty()) {
    auto list = ConfigNode::sequence({"hive.yaml", 10, 9});
    for (const auto& a : algorithms) list.push(ConfigNode::scalar(a, {"hive.yaml", 10, 20}));
    node.set("algorithms", std::move(list));
  }
  auto issuers = ConfigNode::sequence();
  issuers.push(std::move(node));
  auto jwt = ConfigNode::map();
  jwt.set("issuers", std::move(issuers));
  return jwt;
}

TEST(SecurityJwtConfig, IssuersAreReadAndUnsafeOnesRefused) {
  ASSERT_TRUE(cryptoReady());
  auto dir = std::filesystem::temp_directory_path() / ("hive-sm-jwt-" + randomHex(4));
  std::filesystem::create_directories(dir);
  std::string secretPath = (dir / "secret").string();
  std::ofstream(secretPath) << std::string(40, 'k');
  ::chmod(secretPath.c_str(), 0600);
  auto issuer = jwtWithIssuer;
  Diagnostics good;
  auto settings = readJwtSettings(
      issuer({{"issuer", "i"}, {"audience", "hive"}, {"hs256_secret_file", secretPath}}, {}), good);
  EXPECT_FALSE(good.hasErrors());
  ASSERT_EQ(settings.issuers.size(), 1u);
  EXPECT_EQ(settings.issuers[0].algorithms, std::vector<std::string>{"HS256"});
  EXPECT_EQ(settings.issuers[0].hmacSecret.size(), 40u);

  for (const auto& bad : {std::vector<std::string>{"none"}, {"RS256"}, {"EdDSA"}}) {
    Diagnostics refused;
    readJwtSettings(issuer({{"issuer", "i"}, {"audience", "hive"}, {"hs256_secret_file", secretPath}}, bad),
                    refused);
    EXPECT_TRUE(refused.hasErrors()) << bad[0];
  }
  Diagnostics noKey;
  readJwtSettings(issuer({{"issuer", "i"}, {"audience", "hive"}}, {}), noKey);
  EXPECT_TRUE(noKey.hasErrors());
  ::chmod(secretPath.c_str(), 0644);
  Diagnostics readable;
  readJwtSettings(issuer({{"issuer", "i"}, {"audience", "hive"}, {"hs256_secret_file", secretPath}}, {}),
                  readable);
  EXPECT_TRUE(readable.hasErrors());
  std::filesystem::remove_all(dir);
}

// ---- RS256 and JWKS ----

struct RsaTestKey {
  std::shared_ptr<EVP_PKEY> key;
  int bits = 0;

  explicit RsaTestKey(int size) : key(EVP_RSA_gen(size), EVP_PKEY_free), bits(size) {}

  static std::string component(EVP_PKEY* key, const char* name) {
    BIGNUM* number = nullptr;
    EVP_PKEY_get_bn_param(key, name, &number);
    std::string bytes(static_cast<std::size_t>(BN_num_bytes(number)), '\0');
    BN_bn2bin(number, reinterpret_cast<unsigned char*>(bytes.data()));
    BN_free(number);
    return base64UrlEncode(bytes);
  }
  std::string jwk(const std::string& kid, const std::string& extra = {}) const {
    return R"({"kty":"RSA","kid":")" + kid + R"(","n":")" + component(key.get(), OSSL_PKEY_PARAM_RSA_N) +
           R"(","e":")" + component(key.get(), OSSL_PKEY_PARAM_RSA_E) + "\"" + extra + "}";
  }
  Signer signer() const {
    return {"RS256", [this](std::string_view message) {
              std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                              EVP_MD_CTX_free);
              EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, key.get());
              std::size_t length = 0;
              EVP_DigestSign(context.get(), nullptr, &length,
                             reinterpret_cast<const unsigned char*>(message.data()), message.size());
              std::string signature(length, '\0');
              EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                             reinterpret_cast<const unsigned char*>(message.data()), message.size());
              signature.resize(length);
              return signature;
            }};
  }
};

class SecurityJwks : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    first_ = new RsaTestKey(2048);
    second_ = new RsaTestKey(2048);
    third_ = new RsaTestKey(2048);
  }
  static void TearDownTestSuite() {
    delete first_;
    delete second_;
    delete third_;
  }
  void SetUp() override {
    ASSERT_TRUE(cryptoReady());
    crypto_sign_keypair(edPublic_, edSecret_);
    dir_ = std::filesystem::temp_directory_path() / ("hive-sm-jwks-" + randomHex(4));
    std::filesystem::create_directories(dir_);
    jwksPath_ = (dir_ / "jwks.json").string();
    writeJwks({first_->jwk("k1"), second_->jwk("k2", R"(,"alg":"RS256","use":"sig")"), edJwk("ed1"),
               R"({"kty":"EC","kid":"ec1","crv":"P-256","x":"AA","y":"AA"})",
               R"({"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"})"});
    auto jwks = JwksFile::open(jwksPath_);
    ASSERT_TRUE(jwks.ok()) << jwks.status().toString();
    JwtIssuer issuer{.issuer = "https://idp.test", .audience = "hive", .role = "viewer"};
    issuer.jwks = *jwks;
    issuer.algorithms = {"RS256", "EdDSA"};
    authenticator_ = std::make_unique<KeyAuthenticator>(
        std::make_shared<const Roles>(), "", [] { return kNow * 1000; },
        JwtSettings{.issuers = {issuer}, .leeway = std::chrono::seconds(30), .maxTokenBytes = 8192});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void writeJwks(const std::vector<std::string>& keys) {
    std::string text = "{\"keys\":[";
    for (std::size_t i = 0; i < keys.size(); ++i) text += (i ? "," : "") + keys[i];
    // Written beside and renamed over, as a provider's sync would: a new inode.
    std::string staging = jwksPath_ + ".new";
    std::ofstream(staging) << text << "]}";
    std::filesystem::rename(staging, jwksPath_);
  }
  std::string edJwk(const std::string& kid) const {
    return R"({"kty":"OKP","crv":"Ed25519","kid":")" + kid + R"(","x":")" +
           base64UrlEncode(std::string_view(reinterpret_cast<const char*>(edPublic_), sizeof edPublic_)) +
           "\"}";
  }
  Signer edSigner() const {
    return {"EdDSA", [this](std::string_view m) {
              std::string signature(crypto_sign_BYTES, '\0');
              crypto_sign_detached(reinterpret_cast<unsigned char*>(signature.data()), nullptr,
                                   reinterpret_cast<const unsigned char*>(m.data()), m.size(), edSecret_);
              return signature;
            }};
  }
  static std::string header(const std::string& alg, const std::string& kid) {
    return R"({"alg":")" + alg + "\"" + (kid.empty() ? "" : R"(,"kid":")" + kid + "\"") + "}";
  }
  auth::Decision check(const std::string& bearer) {
    return authenticator_->authorize(withHeader("authorization", "Bearer " + bearer), "tasks:read");
  }

  static inline RsaTestKey* first_ = nullptr;
  static inline RsaTestKey* second_ = nullptr;
  static inline RsaTestKey* third_ = nullptr;
  unsigned char edPublic_[crypto_sign_PUBLICKEYBYTES];
  unsigned char edSecret_[crypto_sign_SECRETKEYBYTES];
  std::filesystem::path dir_;
  std::string jwksPath_;
  std::unique_ptr<KeyAuthenticator> authenticator_;
};

TEST_F(SecurityJwks, Rs256AndEdDsaTokensVerifyWithTheKeyTheirKidNames) {
  auto one = check(token(header("RS256", "k1"), claimsFor(kNow + 60), first_->signer()));
  EXPECT_TRUE(one.allowed) << one.reason;
  EXPECT_EQ(one.principal, "jwt:alice");
  auto two = check(token(header("RS256", "k2"), claimsFor(kNow + 60), second_->signer()));
  EXPECT_TRUE(two.allowed) << two.reason;
  auto edwards = check(token(header("EdDSA", "ed1"), claimsFor(kNow + 60), edSigner()));
  EXPECT_TRUE(edwards.allowed) << edwards.reason;
  auto edwardsWithoutKid = check(token(header("EdDSA", ""), claimsFor(kNow + 60), edSigner()));
  EXPECT_TRUE(edwardsWithoutKid.allowed) << "the issuer's only Ed25519 key: " << edwardsWithoutKid.reason;
}

TEST_F(SecurityJwks, WrongKidsAndKeyTypesAndConfusionsAre401WithoutACrash) {
  struct Case {
    std::string what, token, reason;
  };
  std::string claims = claimsFor(kNow + 60);
  std::vector<Case> cases = {
      {"signed by k2, kid k1", token(header("RS256", "k1"), claims, second_->signer()), "signature"},
      {"unknown kid", token(header("RS256", "k9"), claims, first_->signer()), "names no key"},
      {"no kid, two RSA keys", token(header("RS256", ""), claims, first_->signer()), "several keys"},
      {"RS256 naming the Ed25519 key", token(header("RS256", "ed1"), claims, first_->signer()),
       "not for RS256"},
      {"EdDSA naming an RSA key", token(header("EdDSA", "k1"), claims, edSigner()), "not for EdDSA"},
      {"an encryption key", token(header("RS256", "enc"), claims, first_->signer()), "names no key"},
      {"an EC key", token(header("ES256", "ec1"), claims, first_->signer()), "not allowed"},
      {"HS256 keyed with the RSA modulus",
       token(header("HS256", "k1"), claims,
             {"HS256",
              [](std::string_view m) {
                return hs256(
                    m, *base64UrlDecode(RsaTestKey::component(first_->key.get(), OSSL_PKEY_PARAM_RSA_N)));
              }}),
       "not allowed"},
      {"none", token(header("none", "k1"), claims, {"none", [](std::string_view) { return std::string(); }}),
       "not allowed"},
      {"kid not a string", token(R"({"alg":"RS256","kid":7})", claims, first_->signer()), "kid"},
      {"a flipped signature bit",
       [&] {
         std::string signedToken = token(header("RS256", "k1"), claims, first_->signer());
         auto signature = *base64UrlDecode(signedToken.substr(signedToken.rfind('.') + 1));
         signature[10] = static_cast<char>(signature[10] ^ 1);
         return signedToken.substr(0, signedToken.rfind('.') + 1) + base64UrlEncode(signature);
       }(),
       "signature"},
      {"expired", token(header("RS256", "k1"), claimsFor(kNow - 31), first_->signer()), "expired"},
      {"an empty signature",
       token(header("RS256", "k1"), claims, {"RS256", [](std::string_view) { return std::string(); }}),
       "signature"},
  };
  for (const auto& c : cases) {
    auto decision = check(c.token);
    EXPECT_FALSE(decision.allowed) << c.what;
    EXPECT_EQ(decision.code, StatusCode::kUnauthenticated) << c.what;
    EXPECT_NE(decision.reason.find(c.reason), std::string::npos) << c.what << ": " << decision.reason;
  }
}

TEST_F(SecurityJwks, AChangedFileIsReadAgainAndABrokenOneKeepsThePreviousKeys) {
  std::string byThird = token(header("RS256", "k3"), claimsFor(kNow + 60), third_->signer());
  std::string byFirst = token(header("RS256", "k1"), claimsFor(kNow + 60), first_->signer());
  EXPECT_FALSE(check(byThird).allowed);
  EXPECT_TRUE(authenticator_->reloadChangedJwtKeys().empty()) << "nothing changed";

  writeJwks({third_->jwk("k3")});
  auto changes = authenticator_->reloadChangedJwtKeys();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_TRUE(changes[0].loaded) << changes[0].line;
  EXPECT_TRUE(check(byThird).allowed) << "the rotated-in key";
  EXPECT_FALSE(check(byFirst).allowed) << "the rotated-out key";
  EXPECT_TRUE(check(token(header("RS256", ""), claimsFor(kNow + 60), third_->signer())).allowed)
      << "the only RSA key now: no kid needed";

  writeJwks({R"({"kty":"RSA","kid":"half",)"});
  changes = authenticator_->reloadChangedJwtKeys();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_FALSE(changes[0].loaded);
  EXPECT_NE(changes[0].line.find("previous keys stay in use"), std::string::npos) << changes[0].line;
  EXPECT_TRUE(check(byThird).allowed);
  EXPECT_TRUE(authenticator_->reloadChangedJwtKeys().empty()) << "a failed change is reported once";
}

TEST(SecurityJwksFile, MalformedSetsAndSmallRsaKeysAreRefusedWithTheirPlace) {
  RsaTestKey small(1024);
  auto refusedFor = [](const std::string& text) {
    auto parsed = parseJwks(text);
    return parsed.ok() ? std::string() : parsed.status().message();
  };
  EXPECT_NE(refusedFor("[]").find("not a JSON object"), std::string::npos);
  EXPECT_NE(refusedFor("{}").find("\"keys\""), std::string::npos);
  EXPECT_NE(refusedFor(R"({"keys":[]})").find("no RSA or Ed25519"), std::string::npos);
  EXPECT_NE(refusedFor("{\"keys\":[" + small.jwk("tiny") + "]}").find("1024 bits"), std::string::npos);
  EXPECT_NE(refusedFor("{\"keys\":[" + small.jwk("tiny") + "]}").find("kid tiny"), std::string::npos);
  EXPECT_NE(refusedFor(R"({"keys":[{"kty":"RSA","n":"!!","e":"AQAB"}]})").find("key 1"), std::string::npos);
  EXPECT_NE(refusedFor(R"({"keys":[{"kty":"OKP","crv":"X25519","x":"AAAA"}]})").find("Ed25519"),
            std::string::npos);
  RsaTestKey big(2048);
  EXPECT_NE(refusedFor("{\"keys\":[" + big.jwk("same") + "," + big.jwk("same") + "]}").find("two keys"),
            std::string::npos);
  EXPECT_NE(refusedFor("{\"keys\":[" + big.jwk("a", R"(,"alg":"RS512")") + "]}").find("RS512"),
            std::string::npos);
  EXPECT_TRUE(parseJwks("{\"keys\":[" + big.jwk("a") + "]}").ok());
}

TEST(SecurityJwtConfig, JwksIssuersAllowRs256AndFileErrorsAreAtTheirLine) {
  ASSERT_TRUE(cryptoReady());
  auto dir = std::filesystem::temp_directory_path() / ("hive-sm-jwkscfg-" + randomHex(4));
  std::filesystem::create_directories(dir);
  RsaTestKey key(2048);
  std::string good = (dir / "good.json").string(), bad = (dir / "bad.json").string();
  std::ofstream(good) << "{\"keys\":[" << key.jwk("k1") << "]}";
  std::ofstream(bad) << "{\"keys\": 3}";
  auto issuer = [](const std::string& file, const std::vector<std::string>& algorithms) {
    return jwtWithIssuer({{"issuer", "i"}, {"audience", "hive"}, {"jwks_file", file}}, algorithms);
  };
  Diagnostics fine;
  auto settings = readJwtSettings(issuer(good, {}), fine);
  EXPECT_FALSE(fine.hasErrors());
  ASSERT_EQ(settings.issuers.size(), 1u);
  EXPECT_EQ(settings.issuers[0].algorithms, std::vector<std::string>{"RS256"})
      << "what the file's keys allow";
  for (const auto& [file, algorithms, where] :
       {std::tuple<std::string, std::vector<std::string>, std::string>{bad, {}, "hive.yaml:9:9"},
        {(dir / "absent.json").string(), {}, "hive.yaml:9:9"},
        {good, {"RS384"}, "hive.yaml:10:20"},
        {good, {"HS256"}, "hive.yaml:10:20"}}) {
    Diagnostics refused;
    readJwtSettings(issuer(file, algorithms), refused);
    ASSERT_TRUE(refused.hasErrors()) << file;
    EXPECT_NE(refused.items().front().toString().find(where), std::string::npos)
        << refused.items().front().toString();
  }
  std::filesystem::remove_all(dir);
}

// ---- the plugin from its .so, on the real storage_sqlite ----

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

bool onPostgres() { return environment("HIVE_SECURITY_TEST_STORE") == "postgres"; }

// Two nodes: on SQLite they share one store instance; on PostgreSQL (the
// postgres.* tests) each has a storage_postgres of its own on one schema, as
// two hive processes would.
class SecurityManagerPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string schema = "security_" + randomHex(6);
    storeHarness_ = loadStore(schema);
    ASSERT_TRUE(storeHarness_);
    store_ = std::static_pointer_cast<store::Store>(
        storeHarness_->services().lookup(store::Store::kServiceId).front().service);
    if (onPostgres()) {
      secondStoreHarness_ = loadStore(schema);
      ASSERT_TRUE(secondStoreHarness_);
      secondStore_ = std::static_pointer_cast<store::Store>(
          secondStoreHarness_->services().lookup(store::Store::kServiceId).front().service);
    }
    nodeA_ = startNode(store_);
    nodeB_ = startNode(secondStore_ ? secondStore_ : store_);
  }

  static std::unique_ptr<PluginHarness> loadStore(const std::string& schema) {
    if (!onPostgres()) {
      auto loaded = PluginHarness::loadLibrary(STORAGE_SQLITE_PLUGIN);
      EXPECT_TRUE(loaded.ok()) << loaded.status().toString();
      if (!loaded.ok()) return nullptr;
      auto harness = std::move(loaded).value();
      Status started = harness->start();
      EXPECT_TRUE(started.ok()) << started.toString();
      return started.ok() ? std::move(harness) : nullptr;
    }
#ifdef STORAGE_POSTGRES_PLUGIN
    std::string url = environment("HIVE_TEST_POSTGRES_URL");
    EXPECT_FALSE(url.empty()) << "HIVE_TEST_POSTGRES_URL is not set: eval \"$(scripts/test-servers start)\"";
    auto loaded = PluginHarness::loadLibrary(STORAGE_POSTGRES_PLUGIN);
    EXPECT_TRUE(loaded.ok()) << loaded.status().toString();
    if (url.empty() || !loaded.ok()) return nullptr;
    auto harness = std::move(loaded).value();
    harness->setConfig(hive::testing::configFromPairs({{"url", url},
                                                       {"schema", schema},
                                                       { "pool_size",
                                                         "4" }}));
    Status started = harness->start();
    EXPECT_TRUE(started.ok()) << started.toString();
    return started.ok() ? std::move(harness) : nullptr;
#else
    ADD_FAILURE() << "built without storage_postgres";
    return nullptr;
#endif
  }

  std::unique_ptr<PluginHarness> startNode(std::shared_ptr<store::Store> store) {
    auto loaded = PluginHarness::loadLibrary(SECURITY_MANAGER_PLUGIN);
    EXPECT_TRUE(loaded.ok()) << loaded.status().toString();
    auto node = std::move(loaded).value();
    node->provideFake<store::Store>(std::move(store), "store");
    node->setConfig(hive::testing::configFromPairs({{"refresh_interval", "500ms"}}));
    Status started = node->start();
    EXPECT_TRUE(started.ok()) << started.toString();
    return node;
  }

  // One request to a node's routes; the node's blocking work runs on this
  // thread meanwhile (the harness's executors are manual).
  http::Response call(PluginHarness& node, std::string method, std::string target, std::string body = {}) {
    hive::testing::RouteClient client(node.services(), {}, {.principal = "key:test"});
    auto answer = std::async(std::launch::async, [&] { return client.request(method, target, body); });
    while (answer.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) node.runPending();
    auto response = answer.get();
    EXPECT_TRUE(response.ok()) << response.status().toString();
    return response.ok() ? *response : http::Response{};
  }

  // authorize() of the node's authenticator, on another thread while this one
  // runs the node's blocking work: an allowed change waits for its audit
  // entry to be written there.
  static auth::Decision authorizeOn(PluginHarness& node, const http::Request& request,
                                    std::string_view permission) {
    auto authenticator = std::static_pointer_cast<auth::Authenticator>(
        node.services().lookup(auth::Authenticator::kServiceId).front().service);
    auto answer =
        std::async(std::launch::async, [&] { return authenticator->authorize(request, permission); });
    while (answer.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) node.runPending();
    return answer.get();
  }
  static auth::Decision check(PluginHarness& node, const std::string& key, std::string_view permission) {
    return authorizeOn(node, withHeader("authorization", "Bearer " + key), permission);
  }

  std::unique_ptr<PluginHarness> storeHarness_, secondStoreHarness_;
  std::shared_ptr<store::Store> store_, secondStore_;
  std::unique_ptr<PluginHarness> nodeA_, nodeB_;
};

TEST_F(SecurityManagerPluginTest, KeyIsShownOnceWorksAtOnceAndRevocationAppliesAtOnce) {
  auto created = call(*nodeA_, "POST", "/api/v2/security/keys", R"({"name":"ci","role":"submitter"})");
  ASSERT_EQ(created.status, 201) << created.body;
  auto body = json::parse(created.body).as_object();
  std::string key(body.at("key").as_string()), id(body.at("id").as_string());
  EXPECT_EQ(body.at("created_by").as_string(), "key:test");
  EXPECT_FALSE(body.contains("digest"));
  EXPECT_TRUE(check(*nodeA_, key, "tasks:write").allowed);
  EXPECT_EQ(check(*nodeA_, key, "admin:write").code, StatusCode::kPermissionDenied);

  for (const std::string& target : {std::string("/api/v2/security/keys"), "/api/v2/security/keys/" + id}) {
    auto shown = call(*nodeA_, "GET", target);
    ASSERT_EQ(shown.status, 200) << shown.body;
    EXPECT_NE(shown.body.find(id), std::string::npos);
    EXPECT_EQ(shown.body.find(key.substr(key.size() - 64)), std::string::npos) << shown.body;
    EXPECT_EQ(shown.body.find("digest"), std::string::npos) << shown.body;
    EXPECT_EQ(shown.body.find("salt"), std::string::npos) << shown.body;
  }
  auto stored = store_->get("security_keys", id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->body.find(key.substr(key.size() - 64)), std::string::npos) << stored->body;

  auto revoked = call(*nodeA_, "DELETE", "/api/v2/security/keys/" + id);
  EXPECT_EQ(revoked.status, 204) << revoked.body;
  EXPECT_EQ(check(*nodeA_, key, "tasks:read").code, StatusCode::kUnauthenticated);
  EXPECT_EQ(call(*nodeA_, "DELETE", "/api/v2/security/keys/" + id).status, 204);
  EXPECT_EQ(call(*nodeA_, "DELETE", "/api/v2/security/keys/0123456789abcdef").status, 404);
}

TEST_F(SecurityManagerPluginTest, AnotherNodeSeesNewAndRevokedKeysWithinRefreshInterval) {
  auto created = call(*nodeA_, "POST", "/api/v2/security/keys", R"({"name":"ops","role":"operator"})");
  ASSERT_EQ(created.status, 201) << created.body;
  auto body = json::parse(created.body).as_object();
  std::string key(body.at("key").as_string()), id(body.at("id").as_string());
  EXPECT_FALSE(check(*nodeB_, key, "tasks:read").allowed);
  nodeB_->advanceTime(std::chrono::milliseconds(500));
  nodeB_->runPending();
  EXPECT_TRUE(check(*nodeB_, key, "tasks:read").allowed);

  ASSERT_EQ(call(*nodeA_, "DELETE", "/api/v2/security/keys/" + id).status, 204);
  EXPECT_TRUE(check(*nodeB_, key, "tasks:read").allowed);  // until B's next refresh
  nodeB_->advanceTime(std::chrono::milliseconds(500));
  nodeB_->runPending();
  EXPECT_EQ(check(*nodeB_, key, "tasks:read").code, StatusCode::kUnauthenticated);
}

TEST_F(SecurityManagerPluginTest, BadKeyRequestsAre422AndStoreNothing) {
  for (const char* bad :
       {R"({"name":"x","role":"root"})", R"({"role":"viewer"})", R"({"name":"x y","role":"viewer"})",
        R"({"name":"x","role":"viewer","agent":"a"})", R"({"name":"x","role":"viewer","expires_in":"soon"})",
        R"({"name":"x","role":"viewer","colour":"red"})"}) {
    auto refused = call(*nodeA_, "POST", "/api/v2/security/keys", bad);
    EXPECT_EQ(refused.status, 422) << bad << " -> " << refused.body;
    EXPECT_EQ(refused.contentType, "application/problem+json");
  }
  EXPECT_EQ(call(*nodeA_, "POST", "/api/v2/security/keys", "not json").status, 400);
  auto listed = call(*nodeA_, "GET", "/api/v2/security/keys");
  EXPECT_EQ(listed.body, R"({"items":[]})");
}

TEST_F(SecurityManagerPluginTest, AgentKeyIsBoundToItsAgentAndExpiresInAreStored) {
  auto created = call(*nodeA_, "POST", "/api/v2/security/keys",
                      R"({"name":"builder-7","role":"agent","expires_in":"30d"})");
  ASSERT_EQ(created.status, 201) << created.body;
  auto body = json::parse(created.body).as_object();
  EXPECT_EQ(body.at("agent").as_string(), "builder-7");
  EXPECT_EQ(body.at("expires_at_ms").as_int64() - body.at("created_at_ms").as_int64(), 30LL * 86'400'000);
  auto decision = check(*nodeA_, std::string(body.at("key").as_string()), "agents:connect");
  EXPECT_TRUE(decision.allowed);
  EXPECT_EQ(decision.principal, "agent:builder-7");
}

// Runs one SQL statement on the store's file from outside, as someone with
// access to the database would.
void tamper(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

TEST_F(SecurityManagerPluginTest, AuditChainRecordsRefusalsChangesAndKeysAcrossNodesAndDetectsTampering) {
  auto created = call(*nodeA_, "POST", "/api/v2/security/keys", R"({"name":"ci","role":"submitter"})");
  ASSERT_EQ(created.status, 201) << created.body;
  std::string key(json::parse(created.body).as_object().at("key").as_string());
  auto authenticator = [](PluginHarness& node) {
    return std::static_pointer_cast<auth::Authenticator>(
        node.services().lookup(auth::Authenticator::kServiceId).front().service);
  };
  http::Request anonymous;
  anonymous.method = "POST";
  anonymous.path = "/api/v2/tasks";
  anonymous.remoteAddress = "192.0.2.7:5000";
  EXPECT_FALSE(authenticator(*nodeA_)->authorize(anonymous, "tasks:write").allowed);
  http::Request keyed = anonymous;
  keyed.headers.push_back({"authorization", "Bearer " + key});
  nodeB_->advanceTime(std::chrono::milliseconds(500));  // B reads the new key
  nodeB_->runPending();
  EXPECT_TRUE(authorizeOn(*nodeB_, keyed, "tasks:write").allowed);  // the other node
  keyed.method = "GET";
  EXPECT_TRUE(authenticator(*nodeA_)->authorize(keyed, "tasks:read").allowed);  // a read: not audited
  nodeB_->advanceTime(std::chrono::milliseconds(200));
  nodeB_->runPending();

  auto listed = call(*nodeA_, "GET", "/api/v2/security/audit");
  ASSERT_EQ(listed.status, 200) << listed.body;
  auto items = json::parse(listed.body).as_object().at("items").as_array();
  ASSERT_EQ(items.size(), 3u) << listed.body;
  std::multiset<std::string> seen;
  for (const auto& item : items) {
    const auto& entry = item.as_object().at("record").as_object().at("entry").as_object();
    seen.insert(std::string(entry.at("action").as_string()) + " " +
                std::string(entry.at("outcome").as_string()) + " " +
                std::string(entry.at("principal").as_string()));
  }
  std::string keyId = key.substr(5, 16);
  EXPECT_EQ(seen, (std::multiset<std::string>{"key.create done key:test",
                                              "POST /api/v2/tasks unauthenticated anonymous",
                                              "POST /api/v2/tasks allowed key:" + keyId}))
      << listed.body;
  EXPECT_EQ(listed.body.find(key.substr(key.size() - 64)), std::string::npos);

  auto verified = call(*nodeA_, "GET", "/api/v2/security/audit/verify");
  EXPECT_EQ(verified.body, R"({"intact":true,"entries":3})");

  if (onPostgres()) return;  // the tampering below edits the SQLite file
  std::string database = storeHarness_->context().dataDirectory() + "/store.sqlite3";
  auto secondId = items[1].as_object().at("id").as_int64();
  tamper(database,
         "UPDATE events SET body = replace(body, '\"outcome\":\"', '\"outcome\":\"not ') "
         "WHERE stream = 'security.audit' AND id = " +
             std::to_string(secondId));
  auto changed = json::parse(call(*nodeA_, "GET", "/api/v2/security/audit/verify").body).as_object();
  EXPECT_FALSE(changed.at("intact").as_bool());
  EXPECT_EQ(changed.at("broken_at_event").as_int64(), secondId) << changed;
}

TEST_F(SecurityManagerPluginTest, AuditDetectsARemovedLastEntry) {
  if (onPostgres()) GTEST_SKIP() << "edits the SQLite file";
  ASSERT_EQ(call(*nodeA_, "POST", "/api/v2/security/keys", R"({"name":"a","role":"viewer"})").status, 201);
  ASSERT_EQ(call(*nodeA_, "POST", "/api/v2/security/keys", R"({"name":"b","role":"viewer"})").status, 201);
  EXPECT_EQ(call(*nodeA_, "GET", "/api/v2/security/audit/verify").body, R"({"intact":true,"entries":2})");
  tamper(storeHarness_->context().dataDirectory() + "/store.sqlite3",
         "DELETE FROM events WHERE stream = 'security.audit' AND id = (SELECT max(id) FROM events WHERE "
         "stream = "
         "'security.audit')");
  auto removed = json::parse(call(*nodeA_, "GET", "/api/v2/security/audit/verify").body).as_object();
  EXPECT_FALSE(removed.at("intact").as_bool()) << removed;
}

// Audit retention: entries older than `keep` go, oldest first and in batches,
// the trim itself is an audit entry, and what remains still verifies.
TEST_F(SecurityManagerPluginTest, AuditRetentionDeletesOldEntriesRecordsTheTrimAndTheRestVerifies) {
  if (onPostgres()) GTEST_SKIP() << "ages entries by editing the SQLite file";
  auto loaded = PluginHarness::loadLibrary(SECURITY_MANAGER_PLUGIN);
  ASSERT_TRUE(loaded.ok());
  auto node = std::move(loaded).value();
  node->provideFake<store::Store>(store_, "store");
  ConfigNode section = ConfigNode::map();
  ConfigNode retention = ConfigNode::map();
  retention.set("keep", ConfigNode::scalar("1h"));
  retention.set("batch", ConfigNode::scalar("2"));
  retention.set("period", ConfigNode::scalar("1s"));
  section.set("audit_retention", std::move(retention));
  node->setConfig(section);
  ASSERT_TRUE(node->start().ok());
  for (const char* name : {"a", "b", "c", "d", "e"})
    ASSERT_EQ(call(*node, "POST", "/api/v2/security/keys",
                   std::string(R"({"name":")") + name + R"(","role":"viewer"})")
                  .status,
              201);
  // The first three were written two hours ago, as far as the store knows.
  auto events = store_->read(kAuditStream, 0, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 5u);
  const std::int64_t twoHoursAgo = events->front().timestampMs - 2 * 3'600'000;
  tamper(storeHarness_->context().dataDirectory() + "/store.sqlite3",
         "UPDATE events SET timestamp_ms = " + std::to_string(twoHoursAgo) +
             " WHERE stream = 'security.audit' AND id <= " + std::to_string((*events)[2].id));

  node->advanceTime(std::chrono::seconds(1));
  node->runPending();  // the trim (2 + 1 in two store calls), then the flush of its entry
  node->advanceTime(std::chrono::milliseconds(200));
  node->runPending();
  auto left = store_->read(kAuditStream, 0, 100);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 3u);
  EXPECT_EQ(left->front().id, (*events)[3].id) << "the oldest went, the newest stayed";
  EXPECT_NE(left->back().body.find(R"("action":"audit.trim")"), std::string::npos) << left->back().body;
  EXPECT_NE(left->back().body.find(R"("target":"3 entries before )"), std::string::npos) << left->back().body;
  EXPECT_EQ(call(*node, "GET", "/api/v2/security/audit/verify").body, R"({"intact":true,"entries":3})");
  // Nothing more is old: the next pass deletes nothing and records nothing.
  node->advanceTime(std::chrono::seconds(1));
  node->runPending();
  EXPECT_EQ(store_->read(kAuditStream, 0, 100)->size(), 3u);
  node->stop();
}

TEST(SecurityConfig, AuditRetentionIsAMapOfKeepBatchAndPeriod) {
  Diagnostics none;
  EXPECT_FALSE(readSettings(ConfigNode::map(), none).auditRetention.keep) << "kept for ever by default";
  ConfigNode section = ConfigNode::map();
  ConfigNode retention = ConfigNode::map();
  retention.set("keep", ConfigNode::scalar("8760h"));
  section.set("audit_retention", std::move(retention));
  Diagnostics fine;
  Settings settings = readSettings(section, fine);
  EXPECT_FALSE(fine.hasErrors());
  EXPECT_EQ(settings.auditRetention.keep, std::chrono::hours(8760));
  EXPECT_EQ(settings.auditRetention.period, std::chrono::hours(1));
  ConfigNode bad = ConfigNode::map();
  ConfigNode badRetention = ConfigNode::map();
  badRetention.set("keep", ConfigNode::scalar("10m"));
  badRetention.set("batch", ConfigNode::scalar("0"));
  badRetention.set("kept", ConfigNode::scalar("1h"));
  bad.set("audit_retention", std::move(badRetention));
  Diagnostics refused;
  readSettings(bad, refused);
  EXPECT_EQ(refused.errorCount(), 3u);
  Diagnostics notAMap;
  readSettings(hive::testing::configFromPairs({{"audit_retention", "30d"}}), notAMap);
  EXPECT_EQ(notAMap.errorCount(), 1u);
}

TEST_F(SecurityManagerPluginTest, AnAllowedChangeIsInTheStoreBeforeItIsAnsweredAndARefusalDoesNotWait) {
  auto created = call(*nodeA_, "POST", "/api/v2/security/keys", R"({"name":"ci","role":"submitter"})");
  ASSERT_EQ(created.status, 201) << created.body;
  std::string key(json::parse(created.body).as_object().at("key").as_string());
  auto written = [&](const std::string& text) {
    auto events = store_->read(kAuditStream, 0, 1000);
    EXPECT_TRUE(events.ok());
    for (const auto& event : events.ok() ? *events : std::vector<store::Event>{})
      if (event.body.find(text) != std::string::npos) return true;
    return false;
  };
  auto stored = [&](const std::string& requestId) { return written("\"request_id\":\"" + requestId + "\""); };
  EXPECT_TRUE(written("\"action\":\"key.create\"")) << "key.create was written before its 201";

  http::Request change = withHeader("authorization", "Bearer " + key);
  change.method = "POST";
  change.path = "/api/v2/tasks";
  change.requestId = "durable-1";
  EXPECT_TRUE(authorizeOn(*nodeA_, change, "tasks:write").allowed);
  EXPECT_TRUE(stored("durable-1")) << "committed before authorize() answered, with no flush interval passed";

  // A refusal is queued, not waited for: no blocking work runs here.
  http::Request anonymous = change;
  anonymous.headers.clear();
  anonymous.requestId = "refused-1";
  auto authenticator = std::static_pointer_cast<auth::Authenticator>(
      nodeA_->services().lookup(auth::Authenticator::kServiceId).front().service);
  EXPECT_EQ(authenticator->authorize(anonymous, "tasks:write").code, StatusCode::kUnauthenticated);
  EXPECT_FALSE(stored("refused-1"));
  nodeA_->advanceTime(std::chrono::milliseconds(200));
  nodeA_->runPending();
  EXPECT_TRUE(stored("refused-1")) << "written at the next flush interval";
}

TEST_F(SecurityManagerPluginTest, AChangeWhoseAuditEntryCannotBeWrittenInTimeIs503) {
  auto loaded = PluginHarness::loadLibrary(SECURITY_MANAGER_PLUGIN);
  ASSERT_TRUE(loaded.ok());
  auto node = std::move(loaded).value();
  node->provideFake<store::Store>(store_, "store");
  node->setConfig(hive::testing::configFromPairs({{"audit_sync_timeout", "100ms"}}));
  ASSERT_TRUE(node->start().ok());
  auto created = call(*node, "POST", "/api/v2/security/keys", R"({"name":"ci","role":"submitter"})");
  ASSERT_EQ(created.status, 201) << created.body;
  http::Request change =
      withHeader("authorization", "Bearer " + std::string(json::parse(created.body).at("key").as_string()));
  change.method = "POST";
  // Nothing runs the node's blocking executor now, so no flush can happen.
  auto authenticator = std::static_pointer_cast<auth::Authenticator>(
      node->services().lookup(auth::Authenticator::kServiceId).front().service);
  auto decision = authenticator->authorize(change, "tasks:write");
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.code, StatusCode::kUnavailable);
  EXPECT_NE(decision.reason.find("audit log"), std::string::npos) << decision.reason;

  Diagnostics refused;
  readSettings(hive::testing::configFromPairs({{"audit_sync_timeout", "5ms"}}), refused);
  EXPECT_TRUE(refused.hasErrors());
  Diagnostics off;
  EXPECT_FALSE(readSettings(hive::testing::configFromPairs({{"audit_sync", "false"}}), off).auditSync);
}

// hive.secrets/1 as security_engine's scanner would answer: "AKIA" is a finding.
class FakeScanner final : public secrets::Vault {
 public:
  Result<std::string> reveal(std::string_view) override { return unavailable("a fake"); }
  Result<secrets::SecretInfo> describe(std::string_view) override { return unavailable("a fake"); }
  secrets::ScanResult scan(std::string_view text) const override {
    secrets::ScanResult result;
    if (std::size_t at = text.find("AKIA"); at != std::string_view::npos)
      result.findings.push_back({"aws_access_key_id", at});
    result.refuse = refuse && !result.findings.empty();
    return result;
  }
  bool refuse = false;
};

TEST_F(SecurityManagerPluginTest,
       BodiesWithSecretsAreFlaggedOrRefusedAsTheScannerSaysExceptTheVaultsOwnWrites) {
  auto created = call(*nodeA_, "POST", "/api/v2/security/keys", R"({"name":"ci","role":"admin"})");
  ASSERT_EQ(created.status, 201) << created.body;
  std::string key(json::parse(created.body).as_object().at("key").as_string());
  auto post = [&](std::string body, std::string permission = "tasks:write") {
    http::Request request = withHeader("authorization", "Bearer " + key);
    request.method = "POST";
    request.path = "/api/v2/tasks";
    request.body = std::move(body);
    return authorizeOn(*nodeA_, request, permission);
  };
  const std::string leaky = R"({"env":{"AWS_ACCESS_KEY_ID":"AKIAIOSFODNN7EXAMPLE"}})";
  EXPECT_TRUE(post(leaky).allowed) << "no scanner running: nothing is scanned";

  auto scanner = std::make_shared<FakeScanner>();
  nodeA_->provideFake<secrets::Vault>(scanner, "security_engine");
  nodeA_->runPending();
  EXPECT_TRUE(post(leaky).allowed) << "warn: served";
  scanner->refuse = true;
  auto refused = post(leaky);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.code, StatusCode::kInvalidArgument);
  EXPECT_NE(refused.reason.find("aws_access_key_id at byte 29"), std::string::npos) << refused.reason;
  EXPECT_EQ(refused.reason.find("AKIAIOSFODNN7EXAMPLE"), std::string::npos) << "the match is never repeated";
  EXPECT_TRUE(post(R"({"type":"build"})").allowed);
  EXPECT_TRUE(post(leaky, "secrets:write").allowed) << "storing a secret is what the vault is for";
  nodeA_->withdrawFake<secrets::Vault>("security_engine");
  nodeA_->runPending();
  EXPECT_TRUE(post(leaky).allowed) << "the scanner gone: nothing is scanned";

  auto listed = call(*nodeA_, "GET", "/api/v2/security/audit");
  std::vector<std::string> outcomes;
  auto audit = json::parse(listed.body);
  for (const auto& item : audit.as_object().at("items").as_array()) {
    const auto& entry = item.as_object().at("record").as_object().at("entry").as_object();
    if (entry.at("action").as_string() != "POST /api/v2/tasks") continue;
    std::string outcome(entry.at("outcome").as_string());
    if (const auto* target = entry.if_contains("target")) outcome += " " + std::string(target->as_string());
    outcomes.push_back(outcome);
  }
  EXPECT_EQ(outcomes,
            (std::vector<std::string>{"allowed", "flagged secret-like: aws_access_key_id at byte 29",
                                      "refused secret-like: aws_access_key_id at byte 29", "allowed",
                                      "allowed", "allowed"}))
      << listed.body;
  EXPECT_EQ(listed.body.find("AKIAIOSFODNN7EXAMPLE"), std::string::npos);
}

// ---- projects ----

// A plugin that keeps objects of projects: `pages` pages of two lines each to
// export; erase() records its calls and fails while `failing`.
class FakeProjectData final : public projects::ProjectData {
 public:
  int pages = 2;
  bool failing = false;
  std::vector<std::string> erased;

  std::string kind() override { return "things"; }
  Result<projects::ExportPage> exportPage(std::string_view tenant, std::string_view project,
                                          std::string_view cursor, std::size_t limit) override {
    int page = cursor.empty() ? 0 : std::stoi(std::string(cursor));
    projects::ExportPage out;
    for (int i = 0; i < 2 && out.lines.size() < limit; ++i)
      out.lines.push_back(R"({"kind":"thing","of":")" + std::string(tenant) + "/" + std::string(project) +
                          R"(","n":)" + std::to_string(page * 2 + i) + "}");
    if (page + 1 < pages) out.next = std::to_string(page + 1);
    return out;
  }
  Result<std::uint64_t> erase(std::string_view tenant, std::string_view project) override {
    if (failing) return unavailable("the things' store is down");
    erased.push_back(std::string(tenant) + "/" + std::string(project));
    return std::uint64_t{4};
  }
};

class SecurityProjectsTest : public SecurityManagerPluginTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SecurityManagerPluginTest::SetUp());
    nodeA_->provideFake<projects::ProjectData>(things_, "things_plugin");
  }
  ServiceRef<projects::Projects> projectsOf(PluginHarness& node) {
    auto found = node.services().get<projects::Projects>();
    EXPECT_TRUE(found.ok()) << found.status().toString();
    return found.ok() ? *found : ServiceRef<projects::Projects>();
  }
  // Every line of the export, following the Link headers.
  std::vector<json::object> exportAll(const std::string& name) {
    std::vector<json::object> lines;
    std::string target = "/api/v2/projects/" + name + "/export?limit=3";
    for (int page = 0; page < 50 && !target.empty(); ++page) {
      auto response = call(*nodeA_, "GET", target);
      EXPECT_EQ(response.status, 200) << response.body;
      EXPECT_EQ(response.contentType, "application/x-ndjson");
      std::size_t count = 0;
      for (std::size_t at = 0, end; at < response.body.size(); at = end + 1, ++count) {
        end = response.body.find('\n', at);
        lines.push_back(json::parse(response.body.substr(at, end - at)).as_object());
      }
      EXPECT_LE(count, 3u);
      target.clear();
      for (const auto& header : response.headers)
        if (header.name == "link") target = header.value.substr(1, header.value.find('>') - 1);
    }
    EXPECT_TRUE(target.empty()) << "the export did not end";
    return lines;
  }

  std::shared_ptr<FakeProjectData> things_ = std::make_shared<FakeProjectData>();
};

TEST_F(SecurityProjectsTest, AProjectIsCreatedListedAndKnownToEveryNodeAndKeysBindToIt) {
  auto created = call(*nodeA_, "POST", "/api/v2/projects", R"({"name":"site","description":"the web site"})");
  ASSERT_EQ(created.status, 201) << created.body;
  auto project = json::parse(created.body).as_object();
  EXPECT_EQ(project.at("name"), "site");
  EXPECT_EQ(project.at("state"), "active");
  EXPECT_EQ(project.at("created_by"), "key:test");
  EXPECT_EQ(call(*nodeA_, "POST", "/api/v2/projects", R"({"name":"site"})").status, 409);
  for (const char* bad : {R"({"name":"a b"})", R"({})", R"({"name":"x","colour":"red"})",
                          R"({"name":"x","tenant":"acme"})", R"({"name":"x","description":7})"})
    EXPECT_EQ(call(*nodeA_, "POST", "/api/v2/projects", bad).status, 422) << bad;
  EXPECT_EQ(call(*nodeA_, "POST", "/api/v2/projects", "nope").status, 400);
  auto listed = call(*nodeA_, "GET", "/api/v2/projects");
  EXPECT_EQ(json::parse(listed.body).as_object().at("items").as_array().size(), 1u) << listed.body;
  EXPECT_EQ(call(*nodeA_, "GET", "/api/v2/projects/site").status, 200);
  EXPECT_EQ(call(*nodeA_, "GET", "/api/v2/projects/other").status, 404);

  EXPECT_TRUE(projectsOf(*nodeA_)->exists("", "site"));
  EXPECT_FALSE(projectsOf(*nodeA_)->exists("acme", "site")) << "another tenant's project of that name";
  EXPECT_FALSE(projectsOf(*nodeB_)->exists("", "site"));
  nodeB_->advanceTime(std::chrono::milliseconds(500));
  nodeB_->runPending();
  EXPECT_TRUE(projectsOf(*nodeB_)->exists("", "site")) << "another node, within refresh_interval";

  auto unknown =
      call(*nodeA_, "POST", "/api/v2/security/keys", R"({"name":"k","role":"submitter","project":"nope"})");
  EXPECT_EQ(unknown.status, 422) << unknown.body;
  EXPECT_NE(unknown.body.find("no project 'nope'"), std::string::npos) << unknown.body;
  auto key =
      call(*nodeA_, "POST", "/api/v2/security/keys", R"({"name":"k","role":"submitter","project":"site"})");
  ASSERT_EQ(key.status, 201) << key.body;
  std::string id(json::parse(key.body).as_object().at("id").as_string());
  EXPECT_EQ(projectsOf(*nodeA_)->boundProject("key:" + id), "site");
  EXPECT_EQ(projectsOf(*nodeA_)->boundProject("key:test"), "");
}

TEST_F(SecurityProjectsTest, AnExportStreamsTheProjectEachPluginsObjectsAndItsAuditEntriesPageByPage) {
  ASSERT_EQ(call(*nodeA_, "POST", "/api/v2/projects", R"({"name":"site"})").status, 201);
  ASSERT_EQ(call(*nodeA_, "POST", "/api/v2/projects", R"({"name":"other"})").status, 201);
  things_->pages = 3;
  auto lines = exportAll("site");
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.front().at("kind"), "project");
  EXPECT_EQ(lines.front().at("project").as_object().at("name"), "site");
  std::vector<std::int64_t> things;
  std::vector<std::string> audited;
  for (const auto& line : lines) {
    if (line.at("kind") == "thing") {
      EXPECT_EQ(line.at("of"), "/site");
      things.push_back(line.at("n").as_int64());
    } else if (line.at("kind") == "audit") {
      const auto& entry = line.at("record").as_object().at("entry").as_object();
      EXPECT_EQ(entry.at("project"), "site");
      audited.emplace_back(entry.at("action").as_string());
    }
  }
  EXPECT_EQ(things, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5})) << "every page of the plugin's, in order";
  EXPECT_EQ(audited, (std::vector<std::string>{"project.create"})) << "site's entries only";
  EXPECT_EQ(call(*nodeA_, "GET", "/api/v2/projects/site/export?cursor=zz").status, 422);
  EXPECT_EQ(call(*nodeA_, "GET", "/api/v2/projects/nope/export").status, 404);
}

TEST_F(SecurityProjectsTest, AnErasureGoesThroughEveryPluginRevokesTheProjectsKeysAndIsAudited) {
  ASSERT_EQ(call(*nodeA_, "POST", "/api/v2/projects", R"({"name":"site"})").status, 201);
  auto key =
      call(*nodeA_, "POST", "/api/v2/security/keys", R"({"name":"k","role":"submitter","project":"site"})");
  ASSERT_EQ(key.status, 201) << key.body;
  std::string secret(json::parse(key.body).as_object().at("key").as_string());
  EXPECT_TRUE(check(*nodeA_, secret, "tasks:write").allowed);

  things_->failing = true;
  auto failed = call(*nodeA_, "DELETE", "/api/v2/projects/site");
  EXPECT_EQ(failed.status, 503) << failed.body;
  EXPECT_NE(failed.body.find("DELETE it again"), std::string::npos) << failed.body;
  auto half = call(*nodeA_, "GET", "/api/v2/projects/site");
  EXPECT_EQ(json::parse(half.body).as_object().at("state"), "erasing") << half.body;
  EXPECT_FALSE(projectsOf(*nodeA_)->exists("", "site")) << "a project being erased takes nothing new";
  EXPECT_EQ(call(*nodeA_, "GET", "/api/v2/projects/site/export").status, 409);

  things_->failing = false;
  auto erased = call(*nodeA_, "DELETE", "/api/v2/projects/site");
  ASSERT_EQ(erased.status, 200) << erased.body;
  EXPECT_EQ(erased.body, R"({"name":"site","erased":{"things":4},"keys_revoked":1})");
  EXPECT_EQ(things_->erased, (std::vector<std::string>{"/site"}));
  EXPECT_EQ(call(*nodeA_, "GET", "/api/v2/projects/site").status, 404);
  EXPECT_EQ(call(*nodeA_, "DELETE", "/api/v2/projects/site").status, 404);
  EXPECT_EQ(check(*nodeA_, secret, "tasks:read").code, StatusCode::kUnauthenticated) << "its key is revoked";

  auto audit = call(*nodeA_, "GET", "/api/v2/security/audit");
  std::vector<std::string> actions;
  std::size_t entries = 0;
  json::value auditPage = json::parse(audit.body);
  for (const auto& item : auditPage.as_object().at("items").as_array()) {
    const auto& entry = item.as_object().at("record").as_object().at("entry").as_object();
    ++entries;
    // check() above: requests without a method, audited as any other.
    if (entry.at("action") == " ") continue;
    actions.push_back(std::string(entry.at("action").as_string()) + " " +
                      std::string(entry.at("outcome").as_string()));
  }
  EXPECT_EQ(actions,
            (std::vector<std::string>{"project.create done", "key.create done", "project.erase failed",
                                      "key.revoke done", "project.erase done"}))
      << audit.body;
  EXPECT_EQ(call(*nodeA_, "GET", "/api/v2/security/audit/verify").body,
            R"({"intact":true,"entries":)" + std::to_string(entries) + "}");
  // The name is free again, for a new project its old keys do not reach.
  EXPECT_EQ(call(*nodeA_, "POST", "/api/v2/projects", R"({"name":"site"})").status, 201);
  EXPECT_EQ(check(*nodeA_, secret, "tasks:read").code, StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace hive::security_manager
