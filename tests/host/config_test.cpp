// The kernel configuration: YAML with locations, ${VAR} expansion, validation.
#include <sched.h>

#include <filesystem>
#include <functional>
#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "host/config/expand.hpp"
#include "host/config/kernel_config.hpp"
#include "host/config/render.hpp"
#include "host/config/yaml_loader.hpp"
#include "test_support.hpp"

namespace hive::host {
namespace {

namespace fs = std::filesystem;
using hive::test::TempDirectory;
using hive::test::writeText;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

EnvironmentLookup fakeEnvironment(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

std::vector<std::string> lines(const Diagnostics& diagnostics) {
  std::vector<std::string> out;
  for (const auto& d : diagnostics.items()) out.push_back(d.toString());
  return out;
}

// ---------------------------------------------------------------------------
// YAML -> ConfigNode

class YamlTest : public ::testing::Test {
 protected:
  ConfigNode parse(const std::string& text) {
    diagnostics_ = Diagnostics();
    auto result = parseYamlText(text, "test.yaml", diagnostics_);
    EXPECT_TRUE(result.ok()) << diagnostics_.toString();
    return result.ok() ? *result : ConfigNode();
  }
  // Parses text that must fail; returns the diagnostics as lines.
  std::vector<std::string> fail(const std::string& text) {
    diagnostics_ = Diagnostics();
    auto result = parseYamlText(text, "test.yaml", diagnostics_);
    EXPECT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(diagnostics_.hasErrors());
    return lines(diagnostics_);
  }

  Diagnostics diagnostics_;
};

void expectAt(const SourceLocation& location, int line, int column) {
  EXPECT_EQ(location.file, "test.yaml");
  EXPECT_EQ(location.line, line);
  EXPECT_EQ(location.column, column);
}

TEST_F(YamlTest, EveryNodeAndKeyKnowsWhereItWasWritten) {
  ConfigNode root = parse(R"(# a comment
server:
  port: 8080
  hosts:
    - alpha
    - "beta"
  limits: {read: 1, write: 2}
)");
  ASSERT_TRUE(root.isMap());
  expectAt(root.location(), 2, 1);
  ASSERT_EQ(root.entries().size(), 1u);
  expectAt(root.entries()[0].keyLocation, 2, 1);
  const ConfigNode& server = root.entries()[0].value;
  ASSERT_TRUE(server.isMap());
  expectAt(server.location(), 3, 3);
  expectAt(server.entries()[0].keyLocation, 3, 3);
  expectAt(server.find("port")->location(), 3, 9);
  EXPECT_EQ(server.find("port")->text(), "8080");
  const ConfigNode& hosts = *server.find("hosts");
  ASSERT_TRUE(hosts.isSequence());
  ASSERT_EQ(hosts.items().size(), 2u);
  expectAt(hosts.items()[0].location(), 5, 7);
  EXPECT_EQ(hosts.items()[1].text(), "beta");
  expectAt(hosts.items()[1].location(), 6, 7);  // the opening quote
  const ConfigNode& limits = *server.find("limits");
  expectAt(limits.location(), 7, 11);
  expectAt(limits.entries()[1].keyLocation, 7, 21);
  expectAt(limits.find("write")->location(), 7, 28);
}

TEST_F(YamlTest, MapsKeepFileOrder) {
  ConfigNode root = parse("zeta: 1\nalpha: 2\nmid: 3\n");
  ASSERT_EQ(root.entries().size(), 3u);
  EXPECT_EQ(root.entries()[0].key, "zeta");
  EXPECT_EQ(root.entries()[1].key, "alpha");
  EXPECT_EQ(root.entries()[2].key, "mid");
}

TEST_F(YamlTest, ScalarsKeepTheirText) {
  ConfigNode root = parse(R"(octal: 010
float: 1.50
yes_word: yes
quoted_null: "null"
empty: ''
spaced: "  padded  "
block: |
  line one
  line two
)");
  EXPECT_EQ(root.find("octal")->text(), "010");
  EXPECT_EQ(root.find("float")->text(), "1.50");
  EXPECT_EQ(root.find("yes_word")->text(), "yes");
  EXPECT_TRUE(root.find("quoted_null")->isScalar());
  EXPECT_EQ(root.find("quoted_null")->text(), "null");
  EXPECT_TRUE(root.find("empty")->isScalar());
  EXPECT_EQ(root.find("empty")->text(), "");
  EXPECT_EQ(root.find("spaced")->text(), "  padded  ");
  EXPECT_EQ(root.find("block")->text(), "line one\nline two\n");
}

TEST_F(YamlTest, NullsBecomeNullNodes) {
  ConfigNode root = parse("a:\nb: ~\nc: null\nd: Null\nlist: [~, x]\n");
  for (const char* key : {"a", "b", "c", "d"}) {
    ASSERT_NE(root.find(key), nullptr) << key;
    EXPECT_TRUE(root.find(key)->isNull()) << key;
  }
  // yaml-cpp puts the null of `a:` on the next line; it is reported at the key.
  expectAt(root.find("a")->location(), 1, 1);
  expectAt(root.find("b")->location(), 2, 4);
  EXPECT_TRUE(root.find("list")->items()[0].isNull());
}

TEST_F(YamlTest, AnEmptyDocumentIsNull) {
  EXPECT_TRUE(parse("").isNull());
  EXPECT_TRUE(parse("# nothing but a comment\n").isNull());
  EXPECT_TRUE(parse("---\n").isNull());
}

TEST_F(YamlTest, AliasesAreCopiesOfTheirAnchor) {
  ConfigNode root = parse("base: &base {retries: 3}\nfirst: *base\nsecond: *base\n");
  EXPECT_EQ(root.find("first")->find("retries")->text(), "3");
  EXPECT_EQ(root.find("second")->find("retries")->text(), "3");
}

TEST_F(YamlTest, UnclosedBracketIsOneLocatedError) {
  EXPECT_THAT(fail("hive:\n  plugin_dirs: [a, b\nplugins: {}\n"),
              ElementsAre("test.yaml:3:8: error: end of sequence flow not found"));
  EXPECT_THAT(fail("a: {x: 1\n"), ElementsAre("test.yaml:2:1: error: end of map flow not found"));
}

TEST_F(YamlTest, SyntaxErrorsCarryYamlCppMessagesWithoutItsPrefix) {
  EXPECT_THAT(fail("a: 1\n b: 2\n"), ElementsAre("test.yaml:2:3: error: illegal map value"));
  EXPECT_THAT(fail("a: b: c\n"), ElementsAre("test.yaml:1:5: error: illegal map value"));
  EXPECT_THAT(fail("a: *nope\n"), ElementsAre("test.yaml:1:4: error: the referenced anchor is not defined"));
}

TEST_F(YamlTest, DuplicateKeysAreErrorsAtTheSecondKey) {
  EXPECT_THAT(fail("a: 1\nb: 2\na: 3\n"),
              ElementsAre("test.yaml:3:1: error: duplicate key 'a' (first at line 1)"));
  EXPECT_THAT(fail("outer:\n  x: 1\n  y: 2\n  x: 3\nother:\n  x: 4\n"),
              ElementsAre("test.yaml:4:3: error: duplicate key 'x' (first at line 2)"));
  EXPECT_THAT(fail("m: {k: 1, k: 2}\n"),
              ElementsAre("test.yaml:1:11: error: duplicate key 'k' (first at line 1)"));
}

TEST_F(YamlTest, NonScalarKeysAreErrors) {
  EXPECT_THAT(fail("? [a, b]\n: 1\n~: 2\nok: 3\n"),
              ElementsAre("test.yaml:1:3: error: map keys must be strings, got a sequence",
                          "test.yaml:3:1: error: map keys must be strings, got null"));
}

// yaml-cpp 0.7's LoadAll never returned on these (the config fuzz target
// found the first): hive check-config, run and reload hung, allocating.
TEST_F(YamlTest, AStrayCommaIsAnErrorNotAHang) {
  EXPECT_THAT(fail(","), ElementsAre(::testing::HasSubstr("test.yaml:1:1: error: cannot read YAML here")));
  EXPECT_THAT(fail("\n\n  ,\n"), ::testing::Not(::testing::IsEmpty()));
}

TEST_F(YamlTest, OnlyOneDocumentPerFile) {
  EXPECT_THAT(fail("a: 1\n---\nb: 2\n"),
              ElementsAre("test.yaml:3:1: error: a config file holds one YAML document, found 2"));
  // A syntax error in a later document is not silently skipped.
  EXPECT_THAT(fail("a: 1\n---\nb: [\n"), ElementsAre(HasSubstr("error: end of sequence flow not found")));
}

TEST_F(YamlTest, DeepNestingIsRefused) {
  std::string text = "v: ";
  for (int i = 0; i < 70; ++i) text += "[";
  for (int i = 0; i < 70; ++i) text += "]";
  EXPECT_THAT(fail(text + "\n"), ElementsAre("test.yaml:1:68: error: nesting deeper than 64 levels"));
}

TEST_F(YamlTest, SelfReferencingAliasIsRefused) {
  auto errors = fail("a: &x [*x]\n");
  ASSERT_FALSE(errors.empty());
  EXPECT_THAT(errors[0], HasSubstr("nesting deeper than 64 levels"));
}

TEST_F(YamlTest, AliasBombIsRefused) {
  // Nine levels of ten aliases each would expand to 10^9 nodes.
  std::string text = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    std::string previous = "*l" + std::to_string(i - 1);
    text += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) text += (j ? ", " : "") + previous;
    text += "]\n";
  }
  EXPECT_THAT(fail(text),
              ElementsAre(HasSubstr("error: more than 100000 values (aliases expanding too far?)")));
}

TEST_F(YamlTest, OversizedInputIsRefused) {
  std::string text = "a: \"" + std::string(std::size_t{4} * 1024 * 1024, 'x') + "\"\n";
  EXPECT_THAT(fail(text), ElementsAre("test.yaml: error: file is larger than 4 MiB"));
}

TEST(YamlFileTest, ReadsAFileAndNamesItOnEveryNode) {
  TempDirectory dir;
  writeText(dir / "x.yaml", "a:\n  b: [1]\n");
  Diagnostics diagnostics;
  auto root = parseYamlFile(dir / "x.yaml", diagnostics);
  ASSERT_TRUE(root.ok()) << diagnostics.toString();
  const ConfigNode& item = root->find("a")->find("b")->items()[0];
  EXPECT_EQ(item.location().toString(), (dir / "x.yaml") + ":2:7");
  EXPECT_EQ(root->entries()[0].keyLocation.file, dir / "x.yaml");
}

TEST(YamlFileTest, MissingFileIsOneErrorNamingPathAndReason) {
  TempDirectory dir;
  Diagnostics diagnostics;
  auto root = parseYamlFile(dir / "absent.yaml", diagnostics);
  ASSERT_FALSE(root.ok());
  EXPECT_EQ(root.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(lines(diagnostics), ElementsAre((dir / "absent.yaml") +
                                              ": error: cannot read config file: No such file or directory"));
}

TEST(YamlFileTest, DirectoryIsNotAnEmptyConfig) {
  TempDirectory dir;
  Diagnostics diagnostics;
  auto root = parseYamlFile(dir.path().string(), diagnostics);
  ASSERT_FALSE(root.ok());
  EXPECT_THAT(lines(diagnostics),
              ElementsAre(dir.path().string() + ": error: cannot read config file: Is a directory"));
}

// ---------------------------------------------------------------------------
// ${VAR} expansion

class ExpandTest : public ::testing::Test {
 protected:
  // Parses `text`, expands it with `env`; returns the diagnostics as lines.
  std::vector<std::string> expand(const std::string& text, std::map<std::string, std::string> env = {}) {
    diagnostics_ = Diagnostics();
    auto parsed = parseYamlText(text, "env.yaml", diagnostics_);
    EXPECT_TRUE(parsed.ok()) << diagnostics_.toString();
    root_ = parsed.ok() ? *parsed : ConfigNode();
    expandVariables(root_, fakeEnvironment(std::move(env)), diagnostics_);
    return lines(diagnostics_);
  }
  std::string text(const char* key) {
    const ConfigNode* node = root_.find(key);
    EXPECT_NE(node, nullptr) << key;
    return node ? node->text() : "<absent>";
  }

  Diagnostics diagnostics_;
  ConfigNode root_;
};

TEST_F(ExpandTest, ReplacesVariablesAnywhereInAScalar) {
  auto errors = expand(R"(whole: ${USER}
inside: postgres://${USER}@${HOST}:5432/db
twice: ${USER}${USER}
quoted: "${USER} here"
)",
                       {{"USER", "hive"}, {"HOST", "db.local"}});
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_EQ(text("whole"), "hive");
  EXPECT_EQ(text("inside"), "postgres://hive@db.local:5432/db");
  EXPECT_EQ(text("twice"), "hivehive");
  EXPECT_EQ(text("quoted"), "hive here");
}

TEST_F(ExpandTest, DefaultsApplyOnlyToUnsetVariables) {
  auto errors = expand(R"(unset: ${PORT:-8080}
set: ${HOST:-localhost}
set_empty: ${EMPTY:-fallback}
empty_default: ${NOPE:-}
default_with_colon: ${URL:-http://x:1/}
nested: ${NOPE:-${HOST}-backup}
unused_nested: ${HOST:-${UNSET_BUT_UNUSED}}
)",
                       {{"HOST", "db"}, {"EMPTY", ""}});
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_EQ(text("unset"), "8080");
  EXPECT_EQ(text("set"), "db");
  EXPECT_EQ(text("set_empty"), "");  // unlike the shell's ${VAR:-x}
  EXPECT_EQ(text("empty_default"), "");
  EXPECT_EQ(text("default_with_colon"), "http://x:1/");
  EXPECT_EQ(text("nested"), "db-backup");
  EXPECT_EQ(text("unused_nested"), "db");
}

TEST_F(ExpandTest, DollarSigns) {
  auto errors = expand(R"(escaped: $$5
literal_braces: $${NOT_A_VAR}
alone: cost $ 5
trailing: five$
other: $HOME
in_default: ${NOPE:-$$x}
)");
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_EQ(text("escaped"), "$5");
  EXPECT_EQ(text("literal_braces"), "${NOT_A_VAR}");
  EXPECT_EQ(text("alone"), "cost $ 5");
  EXPECT_EQ(text("trailing"), "five$");
  EXPECT_EQ(text("other"), "$HOME");
  EXPECT_EQ(text("in_default"), "$x");
}

TEST_F(ExpandTest, ExpandsEverywhereButKeysAndKeepsLocations) {
  auto errors =
      expand("${KEY}: a\nlist: [x, '${V}']\nmap:\n  deep:\n    - ${V}\n", {{"V", "v"}, {"KEY", "k"}});
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_NE(root_.find("${KEY}"), nullptr);
  EXPECT_EQ(root_.find("list")->items()[1].text(), "v");
  const ConfigNode& deep = root_.find("map")->find("deep")->items()[0];
  EXPECT_EQ(deep.text(), "v");
  EXPECT_EQ(deep.location().toString(), "env.yaml:5:7");
  EXPECT_EQ(root_.find("map")->entries()[0].keyLocation.toString(), "env.yaml:4:3");
}

TEST_F(ExpandTest, UnsetVariableIsAnErrorAtTheDollar) {
  EXPECT_THAT(
      expand("url: postgres://${USER}@host\n"),
      ElementsAre("env.yaml:1:17: error: environment variable 'USER' is not set (use ${USER:-default} "
                  "for a default)"));
  // The scalar that failed is now null, so validation does not complain about it again.
  EXPECT_TRUE(root_.find("url")->isNull());
  EXPECT_EQ(root_.find("url")->location().toString(), "env.yaml:1:6");
}

TEST_F(ExpandTest, EveryBadReferenceIsReported) {
  EXPECT_THAT(
      expand("a: ${A} and ${B}\nb: ${1BAD}\nc: ${}\nd: ${OPEN\ne: ${X-y}\nf: ${NOPE:-${ALSO_UNSET}}\n"),
      ElementsAre("env.yaml:1:4: error: environment variable 'A' is not set (use ${A:-default} for a "
                  "default)",
                  "env.yaml:1:13: error: environment variable 'B' is not set (use ${B:-default} for a "
                  "default)",
                  "env.yaml:2:4: error: invalid environment variable name '1BAD'",
                  "env.yaml:3:4: error: invalid environment variable name ''",
                  "env.yaml:4:4: error: unterminated '${' (write '$$' for a literal '$')",
                  "env.yaml:5:4: error: invalid environment variable name 'X-y'",
                  "env.yaml:6:12: error: environment variable 'ALSO_UNSET' is not set (use "
                  "${ALSO_UNSET:-default} for a default)"));
}

TEST_F(ExpandTest, BlockScalarErrorsPointAtTheScalar) {
  EXPECT_THAT(expand("script: |\n  echo ok\n  echo ${MISSING}\n"),
              ElementsAre("env.yaml:1:9: error: environment variable 'MISSING' is not set (use "
                          "${MISSING:-default} for a default)"));
}

TEST(ProcessEnvironmentTest, ReadsGetenv) {
  const char* path = std::getenv("PATH");
  ASSERT_NE(path, nullptr);
  EXPECT_EQ(processEnvironment("PATH"), std::optional<std::string>(path));
  EXPECT_EQ(processEnvironment("HIVE_TEST_SURELY_UNSET_VARIABLE_42"), std::nullopt);
}

// ---------------------------------------------------------------------------
// The kernel config

class ConfigTest : public ::testing::Test {
 protected:
  // Loads `text` as <dir>/hive.yaml; returns the diagnostics as lines, with the
  // directory replaced by "DIR" so expectations stay readable.
  std::vector<std::string> load(const std::string& text, std::map<std::string, std::string> env = {}) {
    writeText(path_, text);
    diagnostics_ = Diagnostics();
    result_.emplace(loadKernelConfig(path_, diagnostics_, fakeEnvironment(std::move(env))));
    std::vector<std::string> out;
    for (auto line : lines(diagnostics_)) {
      if (line.rfind(dir_.path().string(), 0) == 0) line = "DIR" + line.substr(dir_.path().string().size());
      out.push_back(line);
    }
    EXPECT_EQ(result_->ok(), out.empty()) << ::testing::PrintToString(out);
    return out;
  }
  const KernelConfig& config() { return result_->value(); }
  std::string in(const std::string& relative) { return (dir_.path() / relative).lexically_normal().string(); }

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
  gamma:
)");
  ASSERT_THAT(errors, IsEmpty());
  const auto& c = config();
  EXPECT_EQ(c.sourceFile, path_);
  EXPECT_THAT(c.pluginDirectories, ElementsAre(in("plugins"), "/opt/hive/plugins"));
  EXPECT_EQ(c.ioThreads, 3);
  EXPECT_EQ(c.blockingThreads, 8);
  EXPECT_EQ(c.logLevel, LogLevel::kDebug);
  EXPECT_EQ(c.logFormat, LogFormat::kJson);
  EXPECT_EQ(c.drainDeadline, std::chrono::milliseconds(2500));
  EXPECT_EQ(c.dataDirectory, in("state"));
  EXPECT_EQ(c.controlSocket, in("run/hive.sock"));
  ASSERT_EQ(c.plugins.size(), 3u);

  const PluginEntry& alpha = c.plugins[0];
  EXPECT_EQ(alpha.name, "alpha");
  EXPECT_TRUE(alpha.enabled);
  EXPECT_EQ(alpha.versionRange, "^1.2");
  EXPECT_TRUE(alpha.required);
  EXPECT_EQ(alpha.logLevel, LogLevel::kTrace);
  EXPECT_EQ(alpha.location.toString(), path_ + ":11:3");
  const ConfigNode* greeting = alpha.config.find("greeting");
  ASSERT_NE(greeting, nullptr);
  EXPECT_EQ(greeting->text(), "hello");
  EXPECT_EQ(greeting->location().toString(), path_ + ":16:17");
  EXPECT_EQ(alpha.config.find("nested")->find("list")->items().size(), 2u);

  EXPECT_EQ(c.plugins[1].name, "beta");
  EXPECT_FALSE(c.plugins[1].enabled);
  EXPECT_EQ(c.plugins[1].versionRange, "*");
  EXPECT_FALSE(c.plugins[1].required);
  EXPECT_EQ(c.plugins[1].logLevel, std::nullopt);

  // `gamma:` alone enables the plugin with defaults and an empty section located at its key.
  const PluginEntry& gamma = c.plugins[2];
  EXPECT_EQ(gamma.name, "gamma");
  EXPECT_TRUE(gamma.enabled);
  EXPECT_TRUE(gamma.config.isMap());
  EXPECT_TRUE(gamma.config.entries().empty());
  EXPECT_EQ(gamma.config.location().toString(), path_ + ":20:3");
}

TEST_F(ConfigTest, DefaultsApplyToAnEmptyFile) {
  ASSERT_THAT(load(""), IsEmpty());
  const auto& c = config();
  EXPECT_THAT(c.pluginDirectories, ElementsAre(in("plugins")));
  EXPECT_EQ(c.ioThreads, defaultIoThreads(usableCores()));
  EXPECT_EQ(c.blockingThreads, defaultBlockingThreads(usableCores()));
  EXPECT_EQ(c.logLevel, LogLevel::kInfo);
  EXPECT_EQ(c.logFormat, LogFormat::kText);
  EXPECT_EQ(c.drainDeadline, std::chrono::seconds(10));
  EXPECT_EQ(c.dataDirectory, dir_.path().parent_path() / "data");
  EXPECT_EQ(c.controlSocket, "");
  EXPECT_THAT(c.plugins, IsEmpty());
}

TEST_F(ConfigTest, EmptySectionsAreDefaultsToo) {
  ASSERT_THAT(load("hive:\nplugins:\n"), IsEmpty());
  EXPECT_THAT(config().pluginDirectories, ElementsAre(in("plugins")));
  ASSERT_THAT(load("hive: {}\nplugins: {}\n"), IsEmpty());
  EXPECT_EQ(config().ioThreads, defaultIoThreads(usableCores()));
}

TEST(ThreadDefaults, FollowTheUsableCores) {
  EXPECT_EQ(defaultIoThreads(1), 1);
  EXPECT_EQ(defaultIoThreads(2), 1);
  EXPECT_EQ(defaultIoThreads(8), 4);
  EXPECT_EQ(defaultBlockingThreads(1), 8);
  EXPECT_EQ(defaultBlockingThreads(2), 8);
  EXPECT_EQ(defaultBlockingThreads(8), 32);
  EXPECT_EQ(defaultBlockingThreads(64), 64);
  // The affinity mask of this test process, as taskset shows it.
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(usableCores(), CPU_COUNT(&set));
}

TEST_F(ConfigTest, RelativePathsResolveAgainstTheConfigDirectory) {
  ASSERT_THAT(load(R"(hive:
  plugin_dirs: [build/plugins, ../shared/plugins, ./a/../b, /abs/plugins]
  data_dir: ../var/data
  control_socket: run/hive.sock
)"),
              IsEmpty());
  const fs::path parent = dir_.path().parent_path();
  EXPECT_THAT(
      config().pluginDirectories,
      ElementsAre(in("build/plugins"), (parent / "shared/plugins").string(), in("b"), "/abs/plugins"));
  EXPECT_EQ(config().dataDirectory, (parent / "var/data").string());
  EXPECT_EQ(config().controlSocket, in("run/hive.sock"));
  for (const auto& d : config().pluginDirectories) EXPECT_TRUE(fs::path(d).is_absolute()) << d;
}

TEST_F(ConfigTest, ARelativeConfigPathStillGivesAbsoluteDirectories) {
  writeText(path_, "hive:\n  plugin_dirs: [p]\n");
  std::string relative = fs::relative(path_, fs::current_path()).string();
  ASSERT_TRUE(fs::path(relative).is_relative()) << relative;
  Diagnostics diagnostics;
  auto result = loadKernelConfig(relative, diagnostics, fakeEnvironment({}));
  ASSERT_TRUE(result.ok()) << diagnostics.toString();
  EXPECT_EQ(result->sourceFile, relative);
  EXPECT_THAT(result->pluginDirectories, ElementsAre(in("p")));
  EXPECT_EQ(result->dataDirectory, (dir_.path().parent_path() / "data").string());
}

TEST_F(ConfigTest, BrokenYamlIsOneLocatedError) {
  EXPECT_THAT(load("hive:\n  plugin_dirs: [a, b\nplugins: {}\n"),
              ElementsAre("DIR/hive.yaml:3:8: error: end of sequence flow not found"));
  EXPECT_EQ(result_->status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(result_->status().message(), "1 error(s) in " + path_);
}

TEST_F(ConfigTest, DuplicateKey) {
  EXPECT_THAT(load("hive:\n  io_threads: 2\n  log_level: info\n  io_threads: 4\n"),
              ElementsAre("DIR/hive.yaml:4:3: error: duplicate key 'io_threads' (first at line 2)"));
  EXPECT_THAT(load("hive: {}\nplugins: {}\nhive: {}\n"),
              ElementsAre("DIR/hive.yaml:3:1: error: duplicate key 'hive' (first at line 1)"));
}

TEST_F(ConfigTest, UnknownKeysHaveHints) {
  EXPECT_THAT(load("hive:\n  io_thread: 2\n"),
              ElementsAre("DIR/hive.yaml:2:3: error: unknown key 'io_thread' (did you mean 'io_threads'?)"));
  EXPECT_THAT(load("hive: {}\nplugin:\n  a: {}\n"),
              ElementsAre("DIR/hive.yaml:2:1: error: unknown key 'plugin' (did you mean 'plugins'?)"));
  EXPECT_THAT(load("kernel: {}\n"), ElementsAre("DIR/hive.yaml:1:1: error: unknown key 'kernel'"));
  EXPECT_THAT(load("plugins:\n  a:\n    enabeld: true\n"),
              ElementsAre("DIR/hive.yaml:3:5: error: unknown key 'enabeld' (did you mean 'enabled'?)"));
}

TEST_F(ConfigTest, BadIntegers) {
  EXPECT_THAT(load("hive:\n  io_threads: two\n"),
              ElementsAre("DIR/hive.yaml:2:15: error: 'io_threads': expected an integer, got 'two'"));
  EXPECT_THAT(load("hive:\n  blocking_threads: 4.5\n"),
              ElementsAre("DIR/hive.yaml:2:21: error: 'blocking_threads': expected an integer, got '4.5'"));
  EXPECT_THAT(load("hive:\n  io_threads: [2]\n"),
              ElementsAre("DIR/hive.yaml:2:15: error: 'io_threads': expected an integer, got a list"));
  EXPECT_THAT(
      load("hive:\n  io_threads: 99999999999\n"),
      ElementsAre("DIR/hive.yaml:2:15: error: 'io_threads': expected a 32-bit integer, got '99999999999'"));
}

TEST_F(ConfigTest, OutOfRangeThreadCounts) {
  EXPECT_THAT(load("hive:\n  io_threads: 0\n"),
              ElementsAre("DIR/hive.yaml:2:15: error: 'io_threads': must be between 1 and 256, got 0"));
  EXPECT_THAT(load("hive:\n  io_threads: 257\n"),
              ElementsAre("DIR/hive.yaml:2:15: error: 'io_threads': must be between 1 and 256, got 257"));
  EXPECT_THAT(load("hive:\n  io_threads: -1\n"),
              ElementsAre("DIR/hive.yaml:2:15: error: 'io_threads': must be between 1 and 256, got -1"));
  EXPECT_THAT(
      load("hive:\n  blocking_threads: 1025\n"),
      ElementsAre("DIR/hive.yaml:2:21: error: 'blocking_threads': must be between 1 and 1024, got 1025"));
  ASSERT_THAT(load("hive:\n  io_threads: 256\n  blocking_threads: 1\n"), IsEmpty());
  EXPECT_EQ(config().ioThreads, 256);
  EXPECT_EQ(config().blockingThreads, 1);
}

TEST_F(ConfigTest, LogLevelsFormatsAndDeadlines) {
  EXPECT_THAT(
      load("hive:\n  log_level: loud\n"),
      ElementsAre("DIR/hive.yaml:2:14: error: 'log_level': expected one of trace, debug, info, warn, error, "
                  "critical, off; got 'loud'"));
  // A list is one error, not also a bad level ''.
  EXPECT_THAT(
      load("hive:\n  log_level: [info]\n"),
      ElementsAre("DIR/hive.yaml:2:14: error: 'log_level': expected one of trace, debug, info, warn, error, "
                  "critical, off"));
  EXPECT_THAT(load("hive:\n  log_format: xml\n"),
              ElementsAre("DIR/hive.yaml:2:15: error: 'log_format': expected text or json, got 'xml'"));
  EXPECT_THAT(
      load("hive:\n  drain_deadline: 10\n"),
      ElementsAre("DIR/hive.yaml:2:19: error: 'drain_deadline': expected a duration such as 250ms, 30s, 5m "
                  "or 1h, got '10'"));
  EXPECT_THAT(load("hive:\n  drain_deadline: 0s\n"),
              ElementsAre("DIR/hive.yaml:2:19: error: 'drain_deadline': must be greater than 0"));
  // Large enough to overflow milliseconds (and a clock's nanoseconds) when multiplied out.
  EXPECT_THAT(load("hive:\n  drain_deadline: 5124095576030432h\n"),
              ElementsAre("DIR/hive.yaml:2:19: error: 'drain_deadline': expected a duration of at most 100 "
                          "years, got '5124095576030432h'"));
  EXPECT_THAT(load("hive:\n  start_timeout: 0s\n  watchdog_period: 2h\n"),
              ElementsAre("DIR/hive.yaml:2:18: error: 'start_timeout': must be between 1s and 24h",
                          "DIR/hive.yaml:3:20: error: 'watchdog_period': must be between 100ms and 1h"));
  ASSERT_THAT(load("hive:\n  drain_deadline: 2m\n  log_level: off\n"), IsEmpty());
  EXPECT_EQ(config().drainDeadline, std::chrono::minutes(2));
  EXPECT_EQ(config().logLevel, LogLevel::kOff);
}

TEST_F(ConfigTest, PluginDirectoriesMustBeANonEmptyListOfPaths) {
  EXPECT_THAT(
      load("hive:\n  plugin_dirs: []\n"),
      ElementsAre("DIR/hive.yaml:2:16: error: 'plugin_dirs': expected a non-empty list of directories"));
  EXPECT_THAT(
      load("hive:\n  plugin_dirs: plugins\n"),
      ElementsAre("DIR/hive.yaml:2:16: error: 'plugin_dirs': expected a non-empty list of directories"));
  EXPECT_THAT(load("hive:\n  plugin_dirs: [a, '', {b: c}]\n"),
              ElementsAre("DIR/hive.yaml:2:20: error: 'plugin_dirs': expected a directory path",
                          "DIR/hive.yaml:2:24: error: 'plugin_dirs': expected a directory path"));
  EXPECT_THAT(load("hive:\n  data_dir: ''\n"),
              ElementsAre("DIR/hive.yaml:2:13: error: 'data_dir': must not be empty"));
}

TEST_F(ConfigTest, BadVersionRange) {
  EXPECT_THAT(
      load("plugins:\n  alpha:\n    version: \">=1.2.q\"\n"),
      ElementsAre("DIR/hive.yaml:3:14: error: 'version': bad version range '>=1.2.q': '1.2.q' is not a "
                  "version"));
  EXPECT_THAT(
      load("plugins:\n  alpha:\n    version: latest\n"),
      ElementsAre("DIR/hive.yaml:3:14: error: 'version': bad version range 'latest': 'latest' is not a "
                  "version"));
}

TEST_F(ConfigTest, BadPluginNames) {
  EXPECT_THAT(
      load("plugins:\n  Alpha: {}\n  9lives: {}\n  with-dash: {}\n  ok_name2: {}\n"),
      ElementsAre("DIR/hive.yaml:2:3: error: invalid plugin name 'Alpha': expected [a-z][a-z0-9_]*, at "
                  "most 47 characters",
                  "DIR/hive.yaml:3:3: error: invalid plugin name '9lives': expected [a-z][a-z0-9_]*, at "
                  "most 47 characters",
                  "DIR/hive.yaml:4:3: error: invalid plugin name 'with-dash': expected [a-z][a-z0-9_]*, at "
                  "most 47 characters"));
  std::string longest(47, 'a');
  EXPECT_THAT(load("plugins:\n  " + longest + ": {}\n"), IsEmpty());
  EXPECT_THAT(load("plugins:\n  " + longest + "b: {}\n"),
              ElementsAre(HasSubstr("DIR/hive.yaml:2:3: error: invalid plugin name")));
}

TEST_F(ConfigTest, SectionsOfTheWrongShape) {
  EXPECT_THAT(load("- a\n- b\n"), ElementsAre("DIR/hive.yaml:1:1: error: the config file: expected a map"));
  EXPECT_THAT(load("hive: [1]\n"), ElementsAre("DIR/hive.yaml:1:7: error: 'hive': expected a map"));
  EXPECT_THAT(load("plugins: [a]\n"),
              ElementsAre("DIR/hive.yaml:1:10: error: 'plugins': expected a map of plugin name to settings"));
  EXPECT_THAT(load("plugins:\n  alpha: true\n"),
              ElementsAre("DIR/hive.yaml:2:10: error: plugin 'alpha': expected a map"));
  EXPECT_THAT(load("plugins:\n  alpha:\n    config: [1, 2]\n"),
              ElementsAre("DIR/hive.yaml:3:13: error: 'config': expected a map (the plugin's own settings)"));
  EXPECT_THAT(load("plugins:\n  alpha:\n    enabled: yes\n    required: 1\n"),
              ElementsAre("DIR/hive.yaml:3:14: error: 'enabled': expected true or false, got 'yes'",
                          "DIR/hive.yaml:4:15: error: 'required': expected true or false, got '1'"));
}

TEST_F(ConfigTest, ReportsEveryErrorAtOnce) {
  auto errors = load(R"(hive:
  io_thread: 2
  blocking_threads: 0
  log_level: loud
  drain_deadline: 10 seconds
  data_dir: ${DATA}
plugins:
  Alpha: {}
  beta:
    version: ">=1.q"
    enabeld: true
  gamma:
    config: [1, 2]
)");
  EXPECT_THAT(
      errors,
      ElementsAre(
          "DIR/hive.yaml:6:13: error: environment variable 'DATA' is not set (use "
          "${DATA:-default} for a default)",
          "DIR/hive.yaml:3:21: error: 'blocking_threads': must be between 1 and 1024, got 0",
          "DIR/hive.yaml:4:14: error: 'log_level': expected one of trace, debug, info, warn, error, "
          "critical, off; got 'loud'",
          "DIR/hive.yaml:5:19: error: 'drain_deadline': expected a duration such as 250ms, 30s, 5m or "
          "1h, got '10 seconds'",
          "DIR/hive.yaml:2:3: error: unknown key 'io_thread' (did you mean 'io_threads'?)",
          "DIR/hive.yaml:8:3: error: invalid plugin name 'Alpha': expected [a-z][a-z0-9_]*, at most 47 "
          "characters",
          "DIR/hive.yaml:10:14: error: 'version': bad version range '>=1.q': '1.q' is not a version",
          "DIR/hive.yaml:11:5: error: unknown key 'enabeld' (did you mean 'enabled'?)",
          "DIR/hive.yaml:13:13: error: 'config': expected a map (the plugin's own settings)"));
  ASSERT_FALSE(result_->ok());
  EXPECT_EQ(result_->status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(result_->status().message(), "9 error(s) in " + path_);
}

TEST_F(ConfigTest, ExpandsEnvironmentVariables) {
  auto errors = load(R"(hive:
  data_dir: ${DATA:-/var/lib/hive}
  log_level: ${LEVEL}
  io_threads: ${IO_THREADS:-3}
plugins:
  db:
    config:
      url: postgres://${USER}@${HOST:-localhost}:5432/hive
      price: $$5
      empty: ${EMPTY:-}
)",
                     {{"LEVEL", "warn"}, {"USER", "hive"}});
  ASSERT_THAT(errors, IsEmpty());
  EXPECT_EQ(config().dataDirectory, "/var/lib/hive");
  EXPECT_EQ(config().logLevel, LogLevel::kWarn);
  EXPECT_EQ(config().ioThreads, 3);
  const ConfigNode& section = config().plugins[0].config;
  EXPECT_EQ(section.find("url")->text(), "postgres://hive@localhost:5432/hive");
  EXPECT_EQ(section.find("url")->location().toString(), path_ + ":8:12");
  EXPECT_EQ(section.find("price")->text(), "$5");
  EXPECT_EQ(section.find("empty")->text(), "");
}

TEST_F(ConfigTest, ExpandedValuesAreValidatedLikeWrittenOnes) {
  EXPECT_THAT(load("hive:\n  io_threads: ${IO}\n", {{"IO", "many"}}),
              ElementsAre("DIR/hive.yaml:2:15: error: 'io_threads': expected an integer, got 'many'"));
}

TEST_F(ConfigTest, UnsetVariableIsOneError) {
  EXPECT_THAT(
      load("hive:\n  io_threads: ${IO}\n  data_dir: /srv/${SITE}/data\n"),
      ElementsAre("DIR/hive.yaml:2:15: error: environment variable 'IO' is not set (use ${IO:-default} "
                  "for a default)",
                  "DIR/hive.yaml:3:18: error: environment variable 'SITE' is not set (use "
                  "${SITE:-default} for a default)"));
  EXPECT_EQ(result_->status().message(), "2 error(s) in " + path_);
}

TEST_F(ConfigTest, UnreadableFile) {
  Diagnostics diagnostics;
  auto result = loadKernelConfig(dir_ / "missing.yaml", diagnostics, fakeEnvironment({}));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(result.status().message(), "1 error(s) in " + (dir_ / "missing.yaml"));
  EXPECT_THAT(lines(diagnostics), ElementsAre((dir_ / "missing.yaml") +
                                              ": error: cannot read config file: No such file or directory"));
}

TEST_F(ConfigTest, CountsOnlyItsOwnErrors) {
  writeText(path_, "hive:\n  io_threads: 0\n");
  Diagnostics diagnostics;
  diagnostics.error({}, "an earlier, unrelated error");
  auto result = loadKernelConfig(path_, diagnostics, fakeEnvironment({}));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(), "1 error(s) in " + path_);
  EXPECT_EQ(diagnostics.errorCount(), 2u);
}

TEST(KernelConfigFromNodeTest, ValidatesAnAlreadyParsedTree) {
  ConfigNode root = ConfigNode::map();
  ConfigNode hive = ConfigNode::map();
  hive.set("io_threads", ConfigNode::scalar("5"));
  hive.set("plugin_dirs", [] {
    ConfigNode list = ConfigNode::sequence();
    list.push(ConfigNode::scalar("p"));
    return list;
  }());
  root.set("hive", hive);
  Diagnostics diagnostics;
  auto config = kernelConfigFromNode(root, "/etc/hive/hive.yaml", diagnostics);
  ASSERT_TRUE(config.ok()) << diagnostics.toString();
  EXPECT_EQ(config->ioThreads, 5);
  EXPECT_THAT(config->pluginDirectories, ElementsAre("/etc/hive/p"));
  EXPECT_EQ(config->dataDirectory, "/etc/data");

  root.set("extra", ConfigNode::scalar("x"));
  auto bad = kernelConfigFromNode(root, "/etc/hive/hive.yaml", diagnostics);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "1 error(s) in /etc/hive/hive.yaml");
}

TEST(ParseLogLevelTest, AcceptsExactlyTheDocumentedNames) {
  const std::pair<const char*, LogLevel> levels[] = {
      {"trace", LogLevel::kTrace}, {"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo},
      {"warn", LogLevel::kWarn},   {"error", LogLevel::kError}, {"critical", LogLevel::kCritical},
      {"off", LogLevel::kOff}};
  for (const auto& [name, level] : levels) {
    auto parsed = parseLogLevel(name);
    ASSERT_TRUE(parsed.ok()) << name;
    EXPECT_EQ(*parsed, level) << name;
  }
  for (const char* bad : {"", "INFO", "warning", "fatal", " info"}) {
    auto parsed = parseLogLevel(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(
        parsed.status().message(),
        "expected one of trace, debug, info, warn, error, critical, off; got '" + std::string(bad) + "'");
  }
}

// ---------------------------------------------------------------------------
// The shipped config/base.yaml (the embedded default) and its overlays

TEST(ShippedConfigTest, TheEmbeddedDefaultIsValid) {
  const std::string path = std::string(HIVE_SOURCE_DIR) + "/config/base.yaml";
  Diagnostics diagnostics;
  auto result = loadKernelConfig(path, diagnostics, fakeEnvironment({}));
  ASSERT_TRUE(result.ok()) << diagnostics.toString();
  EXPECT_THAT(lines(diagnostics), IsEmpty());
  const fs::path root = fs::path(HIVE_SOURCE_DIR).lexically_normal();
  EXPECT_THAT(result->pluginDirectories, ElementsAre((root / "build/release/plugins").string()));
  EXPECT_EQ(result->ioThreads, defaultIoThreads(usableCores()));  // not set: derived from the cores
  EXPECT_EQ(result->blockingThreads, defaultBlockingThreads(usableCores()));
  EXPECT_EQ(result->logLevel, LogLevel::kInfo);
  EXPECT_EQ(result->logFormat, LogFormat::kText);
  EXPECT_EQ(result->drainDeadline, std::chrono::seconds(10));
  EXPECT_EQ(result->dataDirectory, (root / "data").string());
  // Owned by the control-channel work; whatever it is, it must come out resolved.
  EXPECT_TRUE(result->controlSocket.empty() || fs::path(result->controlSocket).is_absolute())
      << result->controlSocket;
  // The platform, embedded: API, SQLite, the local bus, tasks, agents, process agents.
  std::vector<std::string> names;
  for (const auto& p : result->plugins) names.push_back(p.name);
  EXPECT_THAT(names, ElementsAre("api", "storage_sqlite", "communication_engine", "task_manager",
                                 "orchestrator", "task_execution_engine", "monitoring_engine", "dashboard",
                                 "workflow_engine", "communication_manager", "context_manager",
                                 "integration_engine", "data_processing_engine", "resource_manager"));
}

TEST(ShippedConfigTest, LogLevelComesFromTheEnvironment) {
  Diagnostics diagnostics;
  auto result = loadKernelConfig(std::string(HIVE_SOURCE_DIR) + "/config/base.yaml", diagnostics,
                                 fakeEnvironment({{"HIVE_LOG_LEVEL", "debug"}}));
  ASSERT_TRUE(result.ok()) << diagnostics.toString();
  EXPECT_EQ(result->logLevel, LogLevel::kDebug);
}

// The base with one shipped overlay on top, as `hive run -c base.yaml -c <overlay>.yaml`.
Result<KernelConfig> shippedLayers(const std::string& overlay, Diagnostics& diagnostics) {
  const std::string dir = std::string(HIVE_SOURCE_DIR) + "/config/";
  return loadKernelConfig(std::vector<std::string>{dir + "base.yaml", dir + overlay}, diagnostics,
                          fakeEnvironment({{"DATABASE_URL", "postgresql://hive@127.0.0.1/hive"}}));
}

const PluginEntry* entryOf(const KernelConfig& config, std::string_view name) {
  for (const auto& p : config.plugins)
    if (p.name == name) return &p;
  return nullptr;
}

TEST(ShippedConfigTest, TheProductionOverlaySwapsTheEmbeddedStoreAndBusForPostgresAndRedis) {
  Diagnostics diagnostics;
  auto result = shippedLayers("production.yaml", diagnostics);
  ASSERT_TRUE(result.ok()) << diagnostics.toString();
  EXPECT_EQ(result->logFormat, LogFormat::kJson);
  EXPECT_EQ(result->drainDeadline, std::chrono::seconds(30));
  EXPECT_EQ(result->dataDirectory, "/var/lib/hive");
  const PluginEntry* sqlite = entryOf(*result, "storage_sqlite");
  const PluginEntry* postgres = entryOf(*result, "storage_postgres");
  const PluginEntry* bus = entryOf(*result, "communication_engine");
  ASSERT_NE(sqlite, nullptr);
  ASSERT_NE(postgres, nullptr);
  ASSERT_NE(bus, nullptr);
  EXPECT_FALSE(sqlite->enabled);
  EXPECT_FALSE(sqlite->required);
  EXPECT_TRUE(postgres->enabled && postgres->required);
  ASSERT_NE(bus->config.find("transport"), nullptr);
  EXPECT_EQ(bus->config.find("transport")->text(), "redis");
  // The overridden value is reported where the overlay wrote it; the api's
  // other settings still come from the base.
  EXPECT_THAT(bus->config.find("transport")->location().file, EndsWith("config/production.yaml"));
  const PluginEntry* api = entryOf(*result, "api");
  ASSERT_NE(api, nullptr);
  EXPECT_TRUE(api->required);
}

TEST(ShippedConfigTest, TheTestAndDevelopmentOverlaysKeepTheEmbeddedPlatform) {
  for (const char* overlay : {"test.yaml", "development.yaml"}) {
    Diagnostics diagnostics;
    auto result = shippedLayers(overlay, diagnostics);
    ASSERT_TRUE(result.ok()) << overlay << ": " << diagnostics.toString();
    EXPECT_THAT(lines(diagnostics), IsEmpty()) << overlay;
    const PluginEntry* sqlite = entryOf(*result, "storage_sqlite");
    ASSERT_NE(sqlite, nullptr);
    EXPECT_TRUE(sqlite->enabled) << overlay;
  }
  Diagnostics diagnostics;
  auto test = shippedLayers("test.yaml", diagnostics);
  ASSERT_TRUE(test.ok()) << diagnostics.toString();
  EXPECT_EQ(test->logLevel, LogLevel::kWarn);
  const ConfigNode* synchronous = entryOf(*test, "storage_sqlite")->config.find("synchronous");
  ASSERT_NE(synchronous, nullptr);
  EXPECT_EQ(synchronous->text(), "normal");
  EXPECT_THAT(synchronous->location().file, EndsWith("config/test.yaml"));
  auto development = shippedLayers("development.yaml", diagnostics);
  ASSERT_TRUE(development.ok()) << diagnostics.toString();
  EXPECT_EQ(development->logLevel, LogLevel::kDebug);
  EXPECT_THAT(development->pluginDirectories,
              ElementsAre((fs::path(HIVE_SOURCE_DIR).lexically_normal() / "build/dev/plugins").string()));
}

// ---------------------------------------------------------------------------
// Layered files: hive run -c base.yaml -c overlay.yaml

class LayeredConfigTest : public ::testing::Test {
 protected:
  std::string write(const std::string& relative, const std::string& text) {
    fs::path path = dir_.path() / relative;
    fs::create_directories(path.parent_path());
    writeText(path.string(), text);
    return path.string();
  }
  TempDirectory dir_;
};

TEST_F(LayeredConfigTest, LaterFilesOverrideKeyByKeyAndReplaceLists) {
  auto base = write("base.yaml",
                    "hive:\n"
                    "  log_level: info\n"
                    "  drain_deadline: 10s\n"
                    "  plugin_dirs: [a, b]\n"
                    "plugins:\n"
                    "  solo:\n"
                    "    config:\n"
                    "      limit: 3\n"
                    "      name: base\n");
  auto overlay = write("overlay.yaml",
                       "hive:\n"
                       "  log_level: debug\n"
                       "  plugin_dirs: [c]\n"
                       "plugins:\n"
                       "  solo:\n"
                       "    config:\n"
                       "      limit: 5\n"
                       "  extra: {enabled: false}\n");
  Diagnostics diagnostics;
  auto config = loadKernelConfig(std::vector<std::string>{base, overlay}, diagnostics);
  ASSERT_TRUE(config.ok()) << diagnostics.toString();
  EXPECT_EQ(config->logLevel, LogLevel::kDebug);                                      // overridden
  EXPECT_EQ(config->drainDeadline, std::chrono::seconds(10));                         // kept from the base
  EXPECT_THAT(config->pluginDirectories, ElementsAre((dir_.path() / "c").string()));  // list replaced
  EXPECT_THAT(config->sourceFiles, ElementsAre(base, overlay));
  ASSERT_EQ(config->plugins.size(), 2u);
  const ConfigNode& solo = config->plugins[0].config;
  ASSERT_NE(solo.find("limit"), nullptr);
  EXPECT_EQ(solo.find("limit")->text(), "5");
  EXPECT_EQ(solo.find("limit")->location().toString(), overlay + ":7:14");  // where the value came from
  ASSERT_NE(solo.find("name"), nullptr);
  EXPECT_EQ(solo.find("name")->location().toString(), base + ":9:13");  // a sibling kept from the base
  EXPECT_EQ(config->plugins[1].name, "extra");
  EXPECT_FALSE(config->plugins[1].enabled);
}

TEST_F(LayeredConfigTest, RelativePathsAreRelativeToTheFileThatWroteThem) {
  auto base = write("etc/base.yaml", "hive:\n  data_dir: data\n  plugin_dirs: [plugins]\n");
  auto overlay = write("overlays/prod.yaml", "hive:\n  data_dir: ../var/data\n");
  Diagnostics diagnostics;
  auto config = loadKernelConfig(std::vector<std::string>{base, overlay}, diagnostics);
  ASSERT_TRUE(config.ok()) << diagnostics.toString();
  EXPECT_EQ(config->dataDirectory, (dir_.path() / "var" / "data").string());
  EXPECT_THAT(config->pluginDirectories, ElementsAre((dir_.path() / "etc" / "plugins").string()));
}

TEST_F(LayeredConfigTest, EveryErrorOfEveryLayerIsReportedWhereItWasWritten) {
  auto base = write("base.yaml", "hive:\n  log_levl: info\n");
  auto overlay = write("overlay.yaml", "hive:\n  drain_deadline: 0s\n  io_threads: ${NOT_SET_ANYWHERE}\n");
  Diagnostics diagnostics;
  auto config = loadKernelConfig(std::vector<std::string>{base, overlay}, diagnostics, fakeEnvironment({}));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr(base + " + " + overlay));
  std::string all = diagnostics.toString();
  EXPECT_THAT(all, HasSubstr(base + ":2:3"));                               // the unknown key, in the base
  EXPECT_THAT(all, HasSubstr(overlay + ":2:19: error: 'drain_deadline'"));  // the bad value, in the overlay
  EXPECT_THAT(all, HasSubstr(overlay + ":3:15"));  // the unset variable, in the overlay
}

TEST_F(LayeredConfigTest, AMissingLayerIsNotFoundAndNothingElseIsHidden) {
  auto base = write("base.yaml", "hive:\n  log_level: loud\n");
  Diagnostics diagnostics;
  auto config =
      loadKernelConfig(std::vector<std::string>{base, (dir_.path() / "absent.yaml").string()}, diagnostics);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(diagnostics.toString(), HasSubstr("absent.yaml"));
  Diagnostics none;
  EXPECT_FALSE(loadKernelConfig(std::vector<std::string>{}, none).ok());
}

TEST_F(LayeredConfigTest, TheMergedTreeRendersWithOriginsAndReadsBackTheSame) {
  auto base = write("base.yaml",
                    "hive:\n"
                    "  log_level: info\n"
                    "plugins:\n"
                    "  api:\n"
                    "    config:\n"
                    "      listen: \"127.0.0.1:8080\"\n"
                    "      empty: {}\n"
                    "      none: ~\n"
                    "      list:\n"
                    "        - {a: 1}\n"
                    "        - 'quote \"me\" # not a comment'\n");
  auto overlay = write("overlay.yaml", "plugins:\n  api:\n    config:\n      listen: 0.0.0.0:443\n");
  Diagnostics diagnostics;
  auto merged = loadConfigLayers({base, overlay}, diagnostics);
  ASSERT_TRUE(merged.ok()) << diagnostics.toString();
  std::string text = renderWithOrigins(*merged);
  EXPECT_THAT(text, HasSubstr("listen: \"0.0.0.0:443\"  # " + overlay + ":4:15\n"));
  EXPECT_THAT(text, HasSubstr("log_level: info  # " + base + ":2:14\n"));
  auto again = parseYamlText(text, "rendered.yaml", diagnostics);
  ASSERT_TRUE(again.ok()) << diagnostics.toString() << text;
  const ConfigNode* config = again->find("plugins")->find("api")->find("config");
  EXPECT_EQ(config->find("listen")->text(), "0.0.0.0:443");
  EXPECT_TRUE(config->find("empty")->isMap());
  EXPECT_TRUE(config->find("none")->isNull());
  ASSERT_EQ(config->find("list")->items().size(), 2u);
  EXPECT_EQ(config->find("list")->items()[0].find("a")->text(), "1");
  EXPECT_EQ(config->find("list")->items()[1].text(), "quote \"me\" # not a comment");
}

}  // namespace
}  // namespace hive::host
