// security_engine: master keys, sealing and the config section as units; then
// the real plugin loaded from its .so on the real storage_sqlite: the routes,
// hive.secrets/1, what the store holds, and key rotation across restarts.
#include <sodium.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "config.hpp"
#include "hive/services/secrets.hpp"
#include "hive/services/store.hpp"
#include "hive/testing/harness.hpp"
#include "hive/testing/routes.hpp"
#include "master_key.hpp"
#include "scanner.hpp"
#include "vault.hpp"

namespace hive::security_engine {
namespace {

namespace json = boost::json;
using hive::testing::PluginHarness;

constexpr const char* kKeyA = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
constexpr const char* kKeyB = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
constexpr const char* kValue = "ghp_SeCrEtVaLuE0123456789abcdefXYZ";

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("security_engine_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text, mode_t mode) const {
    std::string file = (path_ / name).string();
    std::ofstream(file) << text;
    ::chmod(file.c_str(), mode);
    return file;
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

MasterKey key(const char* hex) { return MasterKey::fromHex(hex).value(); }

std::string fileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// ---- master keys ----

TEST(SecretsMasterKey, FileMustBePrivateAndHold64HexDigits) {
  TempDir dir;
  auto good = MasterKey::fromFile(dir.write("good.key", std::string(kKeyA) + "\n", 0600));
  ASSERT_TRUE(good.ok()) << good.status().toString();
  EXPECT_EQ(good->id().size(), 16u);
  EXPECT_EQ(std::string(kKeyA).find(good->id()), std::string::npos) << "the id is not a piece of the key";

  auto readable = MasterKey::fromFile(dir.write("open.key", kKeyA, 0644));
  ASSERT_FALSE(readable.ok());
  EXPECT_EQ(readable.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(readable.status().message().find("chmod 600"), std::string::npos);

  for (std::string bad :
       {std::string("abc"), std::string(63, 'a'), std::string(64, 'g'), std::string(66, 'a')}) {
    auto refused = MasterKey::fromFile(dir.write("bad.key", bad, 0600));
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.status().message().find(bad), std::string::npos) << "the content is never echoed";
  }
  EXPECT_FALSE(MasterKey::fromFile(dir.write("x", "", 0600) + ".absent").ok());
}

TEST(SecretsMasterKey, EnvironmentVariableAndDistinctIds) {
  ::setenv("SECURITY_ENGINE_TEST_KEY", kKeyB, 1);
  auto fromEnvironment = MasterKey::fromEnvironment("SECURITY_ENGINE_TEST_KEY");
  ASSERT_TRUE(fromEnvironment.ok());
  EXPECT_EQ(fromEnvironment->id(), key(kKeyB).id());
  EXPECT_NE(key(kKeyA).id(), key(kKeyB).id());
  ::unsetenv("SECURITY_ENGINE_TEST_KEY");
  EXPECT_EQ(MasterKey::fromEnvironment("SECURITY_ENGINE_TEST_KEY").status().code(), StatusCode::kNotFound);
}

// ---- sealing ----

TEST(SecretsSeal, OpensOnlyWithItsKeyAndNameAndUntouched) {
  MasterKey a = key(kKeyA), b = key(kKeyB);
  Sealed sealed = seal(a, "GITHUB_TOKEN", kValue);
  EXPECT_EQ(sealed.keyId, a.id());
  EXPECT_EQ(sealed.ciphertext.find("SeCrEt"), std::string::npos);
  auto opened = open(a, "GITHUB_TOKEN", sealed);
  ASSERT_TRUE(opened.ok()) << opened.status().toString();
  EXPECT_EQ(*opened, kValue);

  EXPECT_EQ(open(b, "GITHUB_TOKEN", sealed).status().code(), StatusCode::kDataLoss) << "another key";
  EXPECT_EQ(open(a, "OTHER", sealed).status().code(), StatusCode::kDataLoss) << "moved under another name";
  Sealed flipped = sealed;
  flipped.ciphertext[3] = static_cast<char>(flipped.ciphertext[3] ^ 1);
  EXPECT_EQ(open(a, "GITHUB_TOKEN", flipped).status().code(), StatusCode::kDataLoss);
  Sealed shortened = sealed;
  shortened.ciphertext.resize(4);
  EXPECT_EQ(open(a, "GITHUB_TOKEN", shortened).status().code(), StatusCode::kDataLoss);
  EXPECT_NE(seal(a, "GITHUB_TOKEN", kValue).nonce, sealed.nonce) << "a fresh nonce per seal";
}

TEST(SecretsNames, FollowTheDocumentedRule) {
  for (const char* good : {"GITHUB_TOKEN", "_x", "db.password", "a-b", "A"})
    EXPECT_TRUE(validSecretName(good)) << good;
  for (std::string bad : std::vector<std::string>{"", "1abc", "a b", "a/b", "é", std::string(129, 'a'), ".x"})
    EXPECT_FALSE(validSecretName(bad)) << bad;
}

// ---- scanning ----

ScanSettings scanSettings(std::initializer_list<std::pair<std::string, ConfigNode>> entries,
                          Diagnostics& diagnostics) {
  auto section = ConfigNode::map();
  for (const auto& [name, value] : entries) section.set(name, value, {"hive.yaml", 20, 7});
  return readScanSettings(section, diagnostics);
}

TEST(SecretsScanner, BuiltInDetectorsFindTokensButNotOrdinaryJson) {
  Diagnostics none;
  Scanner scanner(readScanSettings(ConfigNode::null(), none));
  struct Sample {
    std::string detector, text;
  };
  std::vector<Sample> samples = {
      {"aws_access_key_id", R"({"env":{"AWS_ACCESS_KEY_ID":"AKIAIOSFODNN7EXAMPLE"}})"},
      {"github_token", "token ghp_" + std::string(36, 'a')},
      {"slack_token", "xoxb-1234567890-abcdefghij"},
      {"google_api_key", "AIza" + std::string(35, 'B')},
      {"private_key", "-----BEGIN RSA PRIVATE KEY-----\nMIIE..."},
      {"hive_api_key", "hive_" + std::string(16, 'a') + "_" + std::string(64, 'b')},
      {"jwt", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlMTIz"},
  };
  for (const auto& sample : samples) {
    auto result = scanner.scan(sample.text);
    ASSERT_EQ(result.findings.size(), 1u) << sample.detector;
    EXPECT_EQ(result.findings[0].detector, sample.detector);
    EXPECT_FALSE(result.refuse) << "warn is the default";
  }
  auto offset = scanner.scan(R"({"a":"x","key":"AKIAIOSFODNN7EXAMPLE"})");
  ASSERT_EQ(offset.findings.size(), 1u);
  EXPECT_EQ(offset.findings[0].offset, 16u);
  for (std::string clean : std::vector<std::string>{
           R"({"type":"build","payload":{"repo":"hive","ref":"main","n":12345678901234567890}})",
           std::string("AKIA") + "short", std::string("ghp_") + "tooshort", std::string()})
    EXPECT_TRUE(scanner.scan(clean).findings.empty()) << clean;
}

TEST(SecretsScanner, ModesCustomAndDisabledDetectorsMaxBytesAndErrorsAtTheirLine) {
  auto detectors = ConfigNode::map();
  detectors.set("internal_token", ConfigNode::scalar("itk_[a-z0-9]{8}", {"hive.yaml", 22, 25}));
  auto disable = ConfigNode::sequence();
  disable.push(ConfigNode::scalar("jwt"));
  Diagnostics fine;
  ScanSettings settings = scanSettings({{"mode", ConfigNode::scalar("refuse")},
                                        {"max_bytes", ConfigNode::scalar("1024")},
                                        {"detectors", detectors},
                                        {"disable", disable}},
                                       fine);
  ASSERT_FALSE(fine.hasErrors()) << fine.items().front().toString();
  Scanner scanner(settings);
  auto found = scanner.scan("see itk_abcd1234 and AKIAIOSFODNN7EXAMPLE");
  ASSERT_EQ(found.findings.size(), 2u);
  EXPECT_EQ(found.findings[0].detector, "internal_token");
  EXPECT_EQ(found.findings[1].detector, "aws_access_key_id");
  EXPECT_TRUE(found.refuse);
  EXPECT_TRUE(scanner.scan("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlMTIz").findings.empty())
      << "jwt disabled";
  EXPECT_TRUE(scanner.scan(std::string(1024, ' ') + "AKIAIOSFODNN7EXAMPLE").findings.empty())
      << "beyond max_bytes is not looked at";
  EXPECT_FALSE(scanner.scan("nothing here").refuse);

  Diagnostics off;
  EXPECT_TRUE(Scanner(scanSettings({{"mode", ConfigNode::scalar("off")}}, off))
                  .scan("AKIAIOSFODNN7EXAMPLE")
                  .findings.empty());

  auto badPattern = ConfigNode::map();
  badPattern.set("broken", ConfigNode::scalar("([a-z", {"hive.yaml", 23, 17}));
  auto badDisable = ConfigNode::sequence();
  badDisable.push(ConfigNode::scalar("nope", {"hive.yaml", 24, 15}));
  for (auto [entry, where] :
       {std::pair<std::pair<std::string, ConfigNode>, std::string>{{"detectors", badPattern},
                                                                   "hive.yaml:23:17"},
        {{"disable", badDisable}, "hive.yaml:24:15"},
        {{"mode", ConfigNode::scalar("block", {"hive.yaml", 20, 13})}, "hive.yaml:20:"}}) {
    Diagnostics refused;
    scanSettings({entry}, refused);
    ASSERT_TRUE(refused.hasErrors()) << where;
    EXPECT_NE(refused.items().front().toString().find(where), std::string::npos)
        << refused.items().front().toString();
  }
}

// ---- config ----

ConfigNode secretsSection(std::initializer_list<std::pair<std::string, ConfigNode>> entries) {
  auto secrets = ConfigNode::map();
  for (const auto& [name, value] : entries) secrets.set(name, value, {"hive.yaml", 7, 7});
  auto section = ConfigNode::map();
  section.set("secrets", std::move(secrets));
  return section;
}

ConfigNode at(std::string text, int line) {
  return ConfigNode::scalar(std::move(text), {"hive.yaml", line, 24});
}

TEST(SecretsConfig, NoKeyMeansVaultOffAndBadKeysAreNamedAtTheirLine) {
  Diagnostics none;
  EXPECT_TRUE(readSettings(ConfigNode::map(), none).secrets.current.empty());
  EXPECT_FALSE(none.hasErrors());

  TempDir dir;
  std::string good = dir.write("good.key", kKeyA, 0600);
  std::string readable = dir.write("readable.key", kKeyA, 0640);
  Diagnostics fine;
  Settings settings = readSettings(secretsSection({{"master_key_file", at(good, 3)}}), fine);
  EXPECT_FALSE(fine.hasErrors());
  EXPECT_EQ(settings.secrets.current.id(), key(kKeyA).id());

  Diagnostics refused;
  readSettings(secretsSection({{"master_key_file", at(readable, 4)}}), refused);
  ASSERT_TRUE(refused.hasErrors());
  EXPECT_NE(refused.items().front().toString().find("hive.yaml:4:24"), std::string::npos)
      << refused.items().front().toString();
  EXPECT_NE(refused.items().front().toString().find("chmod 600"), std::string::npos);

  Diagnostics both;
  readSettings(secretsSection({{"master_key_file", at(good, 3)}, {"master_key_env", at("HIVE_KEY", 5)}}),
               both);
  EXPECT_TRUE(both.hasErrors());

  auto previous = ConfigNode::sequence({"hive.yaml", 9, 3});
  previous.push(at(good, 10));
  Diagnostics orphan;
  readSettings(secretsSection({{"previous_key_files", previous}}), orphan);
  EXPECT_TRUE(orphan.hasErrors()) << "previous keys without a current one";

  Diagnostics unknown;
  readSettings(secretsSection({{"master_key_fil", at(good, 3)}}), unknown);
  ASSERT_TRUE(unknown.hasErrors());
  EXPECT_NE(unknown.items().front().toString().find("did you mean 'master_key_file'"), std::string::npos);

  Diagnostics range;
  readSettings(secretsSection({{"master_key_file", at(good, 3)}, {"max_value_bytes", at("0", 6)}}), range);
  EXPECT_TRUE(range.hasErrors());
}

// ---- the plugin, from its .so, on storage_sqlite ----

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// The postgres.* tests run the same cases on storage_postgres (scripts/test-servers).
bool onPostgres() { return environment("HIVE_SECURITY_TEST_STORE") == "postgres"; }

class SecurityEnginePluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (onPostgres()) {
#ifdef STORAGE_POSTGRES_PLUGIN
      std::string url = environment("HIVE_TEST_POSTGRES_URL");
      ASSERT_FALSE(url.empty())
          << "HIVE_TEST_POSTGRES_URL is not set: eval \"$(scripts/test-servers start)\"";
      auto loaded = PluginHarness::loadLibrary(STORAGE_POSTGRES_PLUGIN);
      ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
      storeHarness_ = std::move(loaded).value();
      storeHarness_->setConfig(hive::testing::configFromPairs(
          {{"url", url},
           { "schema",
             "secrets_" + std::to_string(::getpid()) + "_" + std::to_string(++schemas_) }}));
#else
      GTEST_SKIP() << "built without storage_postgres";
#endif
    } else {
      auto loaded = PluginHarness::loadLibrary(STORAGE_SQLITE_PLUGIN);
      ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
      storeHarness_ = std::move(loaded).value();
    }
    Status started = storeHarness_->start();
    ASSERT_TRUE(started.ok()) << started.toString();
    store_ = std::static_pointer_cast<store::Store>(
        storeHarness_->services().lookup(store::Store::kServiceId).front().service);
    keyA_ = dir_.write("a.key", kKeyA, 0600);
    keyB_ = dir_.write("b.key", kKeyB, 0600);
  }

  // A node of security_engine on the shared store; `current` empty = no key.
  std::unique_ptr<PluginHarness> startNode(const std::string& current,
                                           std::vector<std::string> previous = {}) {
    auto loaded = PluginHarness::loadLibrary(SECURITY_ENGINE_PLUGIN);
    EXPECT_TRUE(loaded.ok()) << loaded.status().toString();
    auto node = std::move(loaded).value();
    node->provideFake<store::Store>(store_, "store");
    auto secrets = ConfigNode::map();
    if (!current.empty()) secrets.set("master_key_file", ConfigNode::scalar(current));
    if (!previous.empty()) {
      auto list = ConfigNode::sequence();
      for (auto& file : previous) list.push(ConfigNode::scalar(file));
      secrets.set("previous_key_files", std::move(list));
    }
    auto section = ConfigNode::map();
    section.set("secrets", std::move(secrets));
    node->setConfig(std::move(section));
    Status started = node->start();
    EXPECT_TRUE(started.ok()) << started.toString();
    return node;
  }

  http::Response call(PluginHarness& node, std::string method, std::string target, std::string body = {}) {
    hive::testing::RouteClient client(node.services(), {}, {.principal = "key:test"});
    auto answer = std::async(std::launch::async, [&] { return client.request(method, target, body); });
    while (answer.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) node.runPending();
    auto response = answer.get();
    EXPECT_TRUE(response.ok()) << response.status().toString();
    return response.ok() ? *response : http::Response{};
  }

  static std::shared_ptr<secrets::Vault> vaultOf(PluginHarness& node) {
    auto providers = node.services().lookup(secrets::Vault::kServiceId);
    return providers.empty() ? nullptr : std::static_pointer_cast<secrets::Vault>(providers.front().service);
  }

  std::string database() { return storeHarness_->context().dataDirectory() + "/store.sqlite3"; }

  static inline int schemas_ = 0;
  TempDir dir_;
  std::string keyA_, keyB_;
  std::unique_ptr<PluginHarness> storeHarness_;
  std::shared_ptr<store::Store> store_;
};

TEST_F(SecurityEnginePluginTest, PutStoresOnlyCiphertextAndPluginsReadTheValueThroughTheService) {
  auto node = startNode(keyA_);
  auto created =
      call(*node, "PUT", "/api/v2/secrets/GITHUB_TOKEN", json::serialize(json::object{{"value", kValue}}));
  ASSERT_EQ(created.status, 201) << created.body;
  auto info = json::parse(created.body).as_object();
  EXPECT_EQ(info["name"].as_string(), "GITHUB_TOKEN");
  EXPECT_EQ(info["version"].as_int64(), 1);
  EXPECT_EQ(info["updated_by"].as_string(), "key:test");
  EXPECT_EQ(info["key_id"].as_string(), key(kKeyA).id());

  auto replaced = call(*node, "PUT", "/api/v2/secrets/GITHUB_TOKEN", R"({"value":"second-value-42"})");
  EXPECT_EQ(replaced.status, 200) << replaced.body;
  EXPECT_EQ(json::parse(replaced.body).at("version").as_int64(), 2);

  for (auto& answer :
       {call(*node, "GET", "/api/v2/secrets/GITHUB_TOKEN"), call(*node, "GET", "/api/v2/secrets")}) {
    EXPECT_EQ(answer.status, 200);
    EXPECT_EQ(answer.body.find("second-value-42"), std::string::npos) << answer.body;
    EXPECT_NE(answer.body.find("GITHUB_TOKEN"), std::string::npos);
  }

  auto vault = vaultOf(*node);
  ASSERT_TRUE(vault);
  auto value = vault->reveal("GITHUB_TOKEN");
  ASSERT_TRUE(value.ok()) << value.status().toString();
  EXPECT_EQ(*value, "second-value-42");
  EXPECT_EQ(vault->describe("GITHUB_TOKEN")->version, 2u);
  EXPECT_EQ(vault->reveal("NOPE").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(vault->reveal("bad name").status().code(), StatusCode::kInvalidArgument);

  if (onPostgres()) return;  // below: the SQLite files
  // Neither value is anywhere in the store's files.
  storeHarness_->stop();
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::string bytes = fileBytes(database() + suffix);
    EXPECT_EQ(bytes.find("second-value-42"), std::string::npos) << suffix;
    EXPECT_EQ(bytes.find(kValue), std::string::npos) << suffix;
  }
}

TEST_F(SecurityEnginePluginTest, BadRequestsAreRefusedAndChangeNothing) {
  auto node = startNode(keyA_);
  EXPECT_EQ(call(*node, "PUT", "/api/v2/secrets/1bad", R"({"value":"x"})").status, 422);
  EXPECT_EQ(call(*node, "PUT", "/api/v2/secrets/OK", R"({"value":""})").status, 422);
  EXPECT_EQ(call(*node, "PUT", "/api/v2/secrets/OK", R"({"value":"x","extra":1})").status, 422);
  EXPECT_EQ(call(*node, "PUT", "/api/v2/secrets/OK", R"({"value":5})").status, 422);
  EXPECT_EQ(call(*node, "PUT", "/api/v2/secrets/OK", "not json").status, 422);
  EXPECT_EQ(call(*node, "PUT", "/api/v2/secrets/OK",
                 json::serialize(json::object{{"value", std::string(64 * 1024 + 1, 'v')}}))
                .status,
            422);
  EXPECT_EQ(call(*node, "GET", "/api/v2/secrets/OK").status, 404);
  EXPECT_EQ(call(*node, "DELETE", "/api/v2/secrets/OK").status, 404);
  auto listed = call(*node, "GET", "/api/v2/secrets");
  EXPECT_EQ(json::parse(listed.body).at("items").as_array().size(), 0u);

  ASSERT_EQ(call(*node, "PUT", "/api/v2/secrets/OK", R"({"value":"v"})").status, 201);
  EXPECT_EQ(call(*node, "DELETE", "/api/v2/secrets/OK").status, 204);
  EXPECT_EQ(call(*node, "GET", "/api/v2/secrets/OK").status, 404);
  EXPECT_EQ(vaultOf(*node)->reveal("OK").status().code(), StatusCode::kNotFound);
}

TEST_F(SecurityEnginePluginTest, AValueMovedUnderAnotherNameInTheStoreDoesNotOpen) {
  auto node = startNode(keyA_);
  ASSERT_EQ(call(*node, "PUT", "/api/v2/secrets/REAL", R"({"value":"v1"})").status, 201);
  auto stored = store_->get(kSecretsCollection, "REAL");
  ASSERT_TRUE(stored.ok());
  store::Document copy;
  copy.id = "COPY";
  copy.body = stored->body;
  ASSERT_TRUE(store_->put(kSecretsCollection, copy).ok());
  EXPECT_EQ(vaultOf(*node)->reveal("COPY").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(*vaultOf(*node)->reveal("REAL"), "v1");
}

TEST_F(SecurityEnginePluginTest, RotationReencryptsUnderTheNewKeySoTheOldOneCanGo) {
  {
    auto node = startNode(keyA_);
    for (const char* name : {"ONE", "TWO", "THREE"})
      ASSERT_EQ(call(*node, "PUT", std::string("/api/v2/secrets/") + name,
                     json::serialize(json::object{{"value", std::string("value-of-") + name}}))
                    .status,
                201);
  }
  {
    // Only the new key: the old values are known but do not open.
    auto node = startNode(keyB_);
    auto refused = vaultOf(*node)->reveal("ONE");
    EXPECT_EQ(refused.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(refused.status().message().find(key(kKeyA).id()), std::string::npos)
        << refused.status().message();
    auto rotation = call(*node, "POST", "/api/v2/secrets/actions/rotate-key");
    EXPECT_EQ(rotation.status, 409) << "rotation without the old key cannot read the values";
    EXPECT_NE(rotation.body.find(key(kKeyA).id()), std::string::npos) << rotation.body;
  }
  {
    auto node = startNode(keyB_, {keyA_});
    EXPECT_EQ(*vaultOf(*node)->reveal("TWO"), "value-of-TWO") << "previous keys still open";
    ASSERT_EQ(call(*node, "PUT", "/api/v2/secrets/FOUR", R"({"value":"value-of-FOUR"})").status, 201);
    auto rotated = call(*node, "POST", "/api/v2/secrets/actions/rotate-key");
    ASSERT_EQ(rotated.status, 200) << rotated.body;
    EXPECT_EQ(json::parse(rotated.body).at("reencrypted").as_int64(), 3);
    EXPECT_EQ(json::parse(rotated.body).at("current").as_int64(), 1);
    EXPECT_EQ(json::parse(call(*node, "POST", "/api/v2/secrets/actions/rotate-key").body)
                  .at("reencrypted")
                  .as_int64(),
              0)
        << "a second rotation has nothing to do";
  }
  auto node = startNode(keyB_);
  for (const char* name : {"ONE", "TWO", "THREE", "FOUR"}) {
    auto value = vaultOf(*node)->reveal(name);
    ASSERT_TRUE(value.ok()) << name << ": " << value.status().toString();
    EXPECT_EQ(*value, std::string("value-of-") + name);
    EXPECT_EQ(vaultOf(*node)->describe(name)->keyId, key(kKeyB).id());
  }
}

TEST_F(SecurityEnginePluginTest, WithoutAMasterKeyTheRoutesAnswer503AndOnlyScanningServes) {
  auto node = startNode("");
  auto vault = vaultOf(*node);
  ASSERT_TRUE(vault);
  EXPECT_EQ(vault->reveal("X").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(vault->describe("X").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(vault->scan(R"({"k":"AKIAIOSFODNN7EXAMPLE"})").findings.size(), 1u);
  auto answer = call(*node, "PUT", "/api/v2/secrets/X", R"({"value":"v"})");
  EXPECT_EQ(answer.status, 503);
  EXPECT_NE(answer.body.find("master_key_file"), std::string::npos);
  EXPECT_EQ(call(*node, "GET", "/api/v2/secrets").status, 503);
}

TEST_F(SecurityEnginePluginTest, MaxSecretsRefusesNewNamesButNotReplacements) {
  auto loaded = PluginHarness::loadLibrary(SECURITY_ENGINE_PLUGIN);
  ASSERT_TRUE(loaded.ok());
  auto node = std::move(loaded).value();
  node->provideFake<store::Store>(store_, "store");
  auto secrets = ConfigNode::map();
  secrets.set("master_key_file", ConfigNode::scalar(keyA_));
  secrets.set("max_secrets", ConfigNode::scalar("2"));
  auto section = ConfigNode::map();
  section.set("secrets", std::move(secrets));
  node->setConfig(std::move(section));
  ASSERT_TRUE(node->start().ok());
  EXPECT_EQ(call(*node, "PUT", "/api/v2/secrets/A", R"({"value":"1"})").status, 201);
  EXPECT_EQ(call(*node, "PUT", "/api/v2/secrets/B", R"({"value":"2"})").status, 201);
  EXPECT_EQ(call(*node, "PUT", "/api/v2/secrets/C", R"({"value":"3"})").status, 429);
  EXPECT_EQ(call(*node, "PUT", "/api/v2/secrets/B", R"({"value":"4"})").status, 200);
  EXPECT_EQ(call(*node, "DELETE", "/api/v2/secrets/A").status, 204);
  EXPECT_EQ(call(*node, "PUT", "/api/v2/secrets/C", R"({"value":"3"})").status, 201);
}

}  // namespace
}  // namespace hive::security_engine
