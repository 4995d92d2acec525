// Config parsing and password redaction: no server needed.
#include "config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "errors.hpp"
#include "json_index.hpp"

namespace hive::storage_postgres {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ConfigNode located(std::initializer_list<std::pair<std::string, std::string>> pairs) {
  auto section = ConfigNode::map({"hive.yaml", 10, 3});
  int line = 11;
  for (const auto& [key, value] : pairs) {
    section.set(key, ConfigNode::scalar(value, {"hive.yaml", line, 10}), {"hive.yaml", line, 5});
    ++line;
  }
  return section;
}

TEST(StoragePostgresConfig, DefaultsWithOnlyUrl) {
  Diagnostics diagnostics;
  Config config = parseConfig(located({{"url", "postgresql://u:p@localhost/db"}}), diagnostics);
  EXPECT_FALSE(diagnostics.hasErrors()) << diagnostics.toString();
  EXPECT_EQ(config.schema, "hive");
  EXPECT_EQ(config.poolSize, 8u);
  EXPECT_EQ(config.batchConcurrency, 4u);
  EXPECT_EQ(config.connectTimeout, std::chrono::seconds(5));
}

TEST(StoragePostgresConfig, UrlIsRequired) {
  Diagnostics diagnostics;
  parseConfig(located({{"schema", "hive"}}), diagnostics);
  EXPECT_THAT(diagnostics.toString(), HasSubstr("hive.yaml:10:3: error: missing required key 'url'"));
}

TEST(StoragePostgresConfig, BadValuesAreReportedWithTheirLocation) {
  Diagnostics diagnostics;
  parseConfig(located({{"url", "postgresql://localhost/db"},
                       {"schema", "Bad-Schema"},
                       {"pool_size", "0"},
                       {"connect_timeout", "soon"},
                       {"max_payload_bytes", "-1"},
                       {"poolsize", "3"}}),
              diagnostics);
  std::string text = diagnostics.toString();
  EXPECT_THAT(text, HasSubstr("hive.yaml:12:10: error: 'schema'"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:13:10: error: 'pool_size': must be between 2 and 256"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:14:10: error: 'connect_timeout'"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:15:10: error: 'max_payload_bytes'"));
  EXPECT_THAT(text, HasSubstr("unknown key 'poolsize' (did you mean 'pool_size'?)"));
}

TEST(StoragePostgresConfig, BatchConcurrencyMustLeaveConnections) {
  Diagnostics diagnostics;
  parseConfig(located({{"url", "postgresql://localhost/db"}, {"pool_size", "4"}, {"batch_concurrency", "4"}}),
              diagnostics);
  EXPECT_THAT(diagnostics.toString(), HasSubstr("'batch_concurrency': must be below pool_size"));
}

TEST(StoragePostgresRedaction, UrlPasswordIsHidden) {
  EXPECT_EQ(redactUrl("postgresql://hive:s3cret@db.example:5432/hive?sslmode=require"),
            "postgresql://hive:***@db.example:5432/hive?sslmode=require");
  EXPECT_EQ(redactUrl("postgres://hive@db/x"), "postgres://hive@db/x");
  EXPECT_EQ(redactUrl("postgresql://db/x?user=hive&password=s3cret&sslmode=disable"),
            "postgresql://db/x?user=hive&password=***&sslmode=disable");
  EXPECT_EQ(redactUrl("host=db user=hive password=s3cret dbname=x"),
            "host=db user=hive password=*** dbname=x");
  EXPECT_EQ(redactUrl("host=db password='s3 cret' dbname=x"), "host=db password=*** dbname=x");
  EXPECT_EQ(passwordOf("postgresql://hive:s3cret@db/x"), "s3cret");
  EXPECT_EQ(passwordOf("host=db password=s3cret"), "s3cret");
  EXPECT_EQ(passwordOf("postgresql://hive@db/x"), "");
}

TEST(StoragePostgresRedaction, RedactorRemovesTheSecretAnywhere) {
  Redactor redact("s3cret");
  EXPECT_EQ(redact("could not connect: password s3cret rejected, s3cret!"),
            "could not connect: password *** rejected, ***!");
  EXPECT_EQ(Redactor()("nothing to hide"), "nothing to hide");
}

TEST(StoragePostgresRedaction, ConnectTimeoutIsAppended) {
  EXPECT_EQ(withConnectTimeout("postgresql://db/x", std::chrono::milliseconds(2500)),
            "postgresql://db/x?connect_timeout=3");
  EXPECT_EQ(withConnectTimeout("postgresql://db/x?sslmode=disable", std::chrono::seconds(5)),
            "postgresql://db/x?sslmode=disable&connect_timeout=5");
  EXPECT_EQ(withConnectTimeout("host=db", std::chrono::seconds(5)), "host=db connect_timeout=5");
}

TEST(StoragePostgresJsonIndex, RoundTripsEscapes) {
  std::map<std::string, std::string> index = {{"a", "plain"},
                                              {"b", "quote \" back \\ nl \n tab \t"},
                                              {"c", "caf\xC3\xA9"},
                                              {"d", std::string("\x01", 1)}};
  auto parsed = indexFromJson(indexToJson(index));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, index);
  // What PostgreSQL prints for jsonb (spaces, \u escapes, surrogate pairs).
  auto printed = indexFromJson(R"({"a": "x", "b": "\u00e9\ud83d\ude00"})");
  ASSERT_TRUE(printed.has_value());
  EXPECT_EQ(printed->at("b"), "\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_FALSE(indexFromJson("{\"a\": 1}").has_value());
  EXPECT_FALSE(indexFromJson("{\"a\": \"x\"").has_value());
}

}  // namespace
}  // namespace hive::storage_postgres
