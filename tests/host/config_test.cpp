// The kernel configuration: YAML with locations, ${VAR} expansion, validation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "host/config/expand.hpp"
#include "host/config/kernel_config.hpp"
#include "host/config/yaml_loader.hpp"
#include "test_support.hpp"

namespace hive::host {
namespace {

using hive::test::TempDirectory;
using hive::test::writeText;
using ::testing::ElementsAre;

EnvironmentLookup fakeEnvironment(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

class ConfigTest : public ::testing::Test {
 protected:
  // Loads `text` as <dir>/hive.yaml; returns the diagnostics as lines, with the
  // directory replaced by "DIR" so expectations stay readable.
  std::vector<std::string> load(const std::string& text, std::map<std::string, std::string> env = {}) {
    writeText(path_, text);
    diagnostics_ = Diagnostics();
    result_.emplace(loadKernelConfig(path_, diagnostics_, fakeEnvironment(std::move(env))));
    std::vector<std::string> lines;
    for (const auto& d : diagnostics_.items()) {
      std::string line = d.toString();
      if (line.rfind(dir_.path().string(), 0) == 0) line = "DIR" + line.substr(dir_.path().string().size());
      lines.push_back(line);
    }
    return lines;
  }
  const KernelConfig& config() { return result_->value(); }

  TempDirectory dir_;
  std::string path_ = dir_ / "hive.yaml";
  Diagnostics diagnostics_;
  std::optional<Result<KernelConfig>> result_;
};

TEST_F(ConfigTest, ReadsAFullValidFile) {
  auto errors = load(R"(hive:
  plugin_dirs: [plugins, /opt/hive/plugins]
  io_threads: 3
  blocking_threads: 8
  log_level: debug
  log_format: json
  drain_deadline: 2500ms
  data_dir: state
  control_socket: run/hive.sock
plugins:
  alpha:
    version: "^1.2"
    required: true
    log_level: trace
    config:
      greeting: hello
      nested: {list: [1, 2]}
  beta:
    enabled: false
)");
  ASSERT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
  ASSERT_TRUE(result_->ok());
  const auto& c = config();
  EXPECT_THAT(c.pluginDirectories, ElementsAre(dir_ / "plugins", "/opt/hive/plugins"));
  EXPECT_EQ(c.ioThreads, 3);
  EXPECT_EQ(c.blockingThreads, 8);
  EXPECT_EQ(c.logLevel, LogLevel::kDebug);
  EXPECT_EQ(c.logFormat, LogFormat::kJson);
  EXPECT_EQ(c.drainDeadline, std::chrono::milliseconds(2500));
  EXPECT_EQ(c.dataDirectory, dir_ / "state");
  EXPECT_EQ(c.controlSocket, dir_ / "run/hive.sock");
  ASSERT_EQ(c.plugins.size(), 2u);
  EXPECT_EQ(c.plugins[0].name, "alpha");
  EXPECT_EQ(c.plugins[0].versionRange, "^1.2");
  EXPECT_TRUE(c.plugins[0].required);
  EXPECT_EQ(c.plugins[0].logLevel, LogLevel::kTrace);
  EXPECT_EQ(c.plugins[0].location.line, 11);
  EXPECT_EQ(c.plugins[0].location.column, 3);
  const ConfigNode* greeting = c.plugins[0].config.find("greeting");
  ASSERT_NE(greeting, nullptr);
  EXPECT_EQ(greeting->text(), "hello");
  EXPECT_EQ(greeting->location().line, 16);
  EXPECT_EQ(greeting->location().column, 17);
  EXPECT_EQ(c.plugins[0].config.find("nested")->find("list")->items().size(), 2u);
  EXPECT_FALSE(c.plugins[1].enabled);
}

TEST_F(ConfigTest, DefaultsApplyToAnEmptyFile) {
  auto errors = load("");
  ASSERT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
  EXPECT_THAT(config().pluginDirectories, ElementsAre(dir_ / "plugins"));
  EXPECT_EQ(config().ioThreads, 2);
  EXPECT_EQ(config().drainDeadline, std::chrono::seconds(10));
  EXPECT_TRUE(config().plugins.empty());
}

TEST_F(ConfigTest, BrokenYamlIsOneLocatedError) {
  auto errors = load("hive:\n  plugin_dirs: [a, b\nplugins: {}\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], ::testing::StartsWith("DIR/hive.yaml:3:"));
  EXPECT_THAT(errors[0], ::testing::HasSubstr(": error: "));
  EXPECT_FALSE(result_->ok());
}

TEST_F(ConfigTest, ReportsEveryErrorAtItsPlace) {
  auto errors = load(R"(hive:
  io_thread: 2
  blocking_threads: 0
  log_level: loud
  drain_deadline: 10 seconds
plugins:
  Alpha: {}
  beta:
    version: ">=1.q"
    enabeld: true
  gamma:
    config: [1, 2]
)");
  EXPECT_THAT(errors,
              ElementsAre("DIR/hive.yaml:3:21: error: 'blocking_threads': must be between 1 and 1024",
                          "DIR/hive.yaml:4:14: error: 'log_level': expected one of trace, debug, info, warn, error, "
                          "critical, off; got 'loud'",
                          "DIR/hive.yaml:5:19: error: 'drain_deadline': expected a duration such as 250ms, 30s, 5m or "
                          "1h, got '10 seconds'",
                          "DIR/hive.yaml:2:3: error: unknown key 'io_thread' (did you mean 'io_threads'?)",
                          "DIR/hive.yaml:7:3: error: invalid plugin name 'Alpha': expected [a-z][a-z0-9_]*, at most 47 "
                          "characters",
                          "DIR/hive.yaml:9:14: error: 'version': bad version range '>=1.q': '1.q' is not a version",
                          "DIR/hive.yaml:10:5: error: unknown key 'enabeld' (did you mean 'enabled'?)",
                          "DIR/hive.yaml:12:13: error: 'config': expected a map (the plugin's own settings)"));
  EXPECT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().message(), "8 error(s) in " + path_);
}

TEST_F(ConfigTest, UnknownTopLevelKeysAndDuplicates) {
  auto errors = load("hive: {}\nplugin:\n  a: {}\nhive: {}\n");
  EXPECT_THAT(errors, ElementsAre("DIR/hive.yaml:4:1: error: duplicate key 'hive' (first at line 1)"));
  errors = load("hive: {}\nplugin:\n  a: {}\n");
  EXPECT_THAT(errors, ElementsAre("DIR/hive.yaml:2:1: error: unknown key 'plugin' (did you mean 'plugins'?)"));
}

TEST_F(ConfigTest, ExpandsEnvironmentVariables) {
  auto errors = load(R"(hive:
  data_dir: ${DATA:-/var/lib/hive}
  log_level: ${LEVEL}
plugins:
  db:
    config:
      url: postgres://${USER}@${HOST:-localhost}:5432/hive
      price: $$5
      empty: ${EMPTY:-}
)",
                     {{"LEVEL", "warn"}, {"USER", "hive"}});
  ASSERT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
  EXPECT_EQ(config().dataDirectory, "/var/lib/hive");
  EXPECT_EQ(config().logLevel, LogLevel::kWarn);
  const ConfigNode& section = config().plugins[0].config;
  EXPECT_EQ(section.find("url")->text(), "postgres://hive@localhost:5432/hive");
  EXPECT_EQ(section.find("price")->text(), "$5");
  EXPECT_EQ(section.find("empty")->text(), "");
}

TEST_F(ConfigTest, UnsetVariablesAndBadReferencesAreLocatedErrors) {
  auto errors = load(R"(hive:
  data_dir: /srv/${SITE}
plugins:
  db:
    config:
      a: ${1BAD}
      b: ${OPEN
)");
  EXPECT_THAT(errors, ElementsAre("DIR/hive.yaml:2:18: error: environment variable 'SITE' is not set (use "
                                  "${SITE:-default} for a default)",
                                  "DIR/hive.yaml:6:10: error: invalid environment variable name '1BAD'",
                                  "DIR/hive.yaml:7:10: error: unterminated '${' (write '$$' for a literal '$')"));
}

TEST_F(ConfigTest, UnreadableFileIsOneError) {
  Diagnostics diagnostics;
  auto result = loadKernelConfig(dir_ / "missing.yaml", diagnostics);
  EXPECT_FALSE(result.ok());
  ASSERT_EQ(diagnostics.items().size(), 1u);
  EXPECT_THAT(diagnostics.items()[0].toString(), ::testing::HasSubstr("cannot read config file: No such file"));
}

TEST(ShippedConfigTest, TheEmbeddedDefaultIsValid) {
  Diagnostics diagnostics;
  auto result = loadKernelConfig(std::string(HIVE_SOURCE_DIR) + "/config/hive.yaml", diagnostics);
  EXPECT_TRUE(result.ok()) << diagnostics.toString();
}

}  // namespace
}  // namespace hive::host
