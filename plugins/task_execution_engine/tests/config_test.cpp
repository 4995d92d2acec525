#include "config.hpp"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "hive/config.hpp"

namespace hive::task_execution_engine {
namespace {

using ::testing::HasSubstr;

SourceLocation at(int line, int column) { return {"hive.yaml", line, column}; }

ConfigNode scalar(std::string text, int line, int column = 9) {
  return ConfigNode::scalar(std::move(text), at(line, column));
}

ConfigNode list(std::initializer_list<std::string> items, int line) {
  ConfigNode node = ConfigNode::sequence(at(line, 9));
  int column = 10;
  for (const auto& item : items) node.push(ConfigNode::scalar(item, at(line, column++)));
  return node;
}

// One agent map starting at `line`, with the usual keys.
ConfigNode agentNode(int line) {
  ConfigNode agent = ConfigNode::map(at(line, 5));
  agent.set("name", scalar("coder", line), at(line, 5));
  agent.set("command", list({"sh", "-c", "cat"}, line + 1), at(line + 1, 5));
  agent.set("workspace", scalar("/tmp/ws", line + 2), at(line + 2, 5));
  return agent;
}

ConfigNode sectionWith(ConfigNode agent) {
  ConfigNode section = ConfigNode::map(at(1, 1));
  ConfigNode agents = ConfigNode::sequence(at(2, 3));
  agents.push(std::move(agent));
  section.set("agents", std::move(agents), at(2, 3));
  return section;
}

TEST(Config, ReadsAnAgentWithDefaults) {
  Diagnostics diagnostics;
  Settings settings = readSettings(sectionWith(agentNode(3)), diagnostics);
  ASSERT_FALSE(diagnostics.hasErrors()) << diagnostics.toString();
  ASSERT_EQ(settings.agents.size(), 1u);
  const AgentSettings& agent = settings.agents[0];
  EXPECT_EQ(agent.name, "coder");
  EXPECT_EQ(agent.command, (std::vector<std::string>{"sh", "-c", "cat"}));
  EXPECT_EQ(agent.maxConcurrency, 1u);
  EXPECT_EQ(agent.timeout, std::chrono::minutes(5));
  EXPECT_EQ(agent.network, Network::kDenied);
  EXPECT_FALSE(agent.gitWorktree);
  EXPECT_EQ(agent.limits.outputBytes, 1u << 20);
  EXPECT_FALSE(agent.limits.memoryBytes.has_value());
  EXPECT_EQ(settings.sandbox, SandboxMode::kAuto);
  // The sandbox's own bounds have defaults: no job is unbounded.
  EXPECT_EQ(agent.limits.processes, kDefaultProcesses);
  EXPECT_EQ(agent.limits.tmpBytes, kDefaultTmpBytes);
  EXPECT_EQ(agent.limits.diskBytes, kDefaultDiskBytes);
  EXPECT_EQ(agent.limits.fileSizeBytes, kDefaultDiskBytes);  // one file cannot exceed the quota
  EXPECT_EQ(settings.sandboxUid, kDefaultSandboxId);
  EXPECT_EQ(settings.sandboxGid, kDefaultSandboxId);
  EXPECT_EQ(settings.workspaceRetention, std::chrono::hours(24));
}

TEST(Config, ReadsTheSandboxKeys) {
  ConfigNode agent = agentNode(3);
  ConfigNode limits = ConfigNode::map(at(13, 5));
  limits.set("memory_bytes", scalar("536870912", 14), at(14, 7));
  limits.set("processes", scalar("64", 15), at(15, 7));
  limits.set("disk_bytes", scalar("1073741824", 16), at(16, 7));
  agent.set("limits", std::move(limits), at(13, 5));
  ConfigNode section = sectionWith(std::move(agent));
  section.set("sandbox_uid", scalar("2000000001", 20), at(20, 1));
  section.set("sandbox_gid", scalar("2000000002", 21), at(21, 1));
  section.set("workspace_retention", scalar("0s", 22), at(22, 1));
  Diagnostics diagnostics;
  Settings settings = readSettings(section, diagnostics);
  ASSERT_FALSE(diagnostics.hasErrors()) << diagnostics.toString();
  const AgentSettings& read = settings.agents.at(0);
  EXPECT_EQ(read.limits.processes, 64u);
  EXPECT_EQ(read.limits.diskBytes, 1073741824u);
  EXPECT_EQ(read.limits.fileSizeBytes, 1073741824u);
  EXPECT_EQ(read.limits.tmpBytes, kDefaultTmpBytes);  // min(memory, 64 MiB)
  EXPECT_EQ(settings.sandboxUid, 2000000001u);
  EXPECT_EQ(settings.sandboxGid, 2000000002u);
  EXPECT_EQ(settings.workspaceRetention, std::chrono::milliseconds(0));
}

TEST(Config, TmpDefaultsToTheMemoryLimitWhenThatIsSmaller) {
  ConfigNode agent = agentNode(3);
  ConfigNode limits = ConfigNode::map(at(13, 5));
  limits.set("memory_bytes", scalar("16777216", 14), at(14, 7));
  agent.set("limits", std::move(limits), at(13, 5));
  Diagnostics diagnostics;
  Settings settings = readSettings(sectionWith(std::move(agent)), diagnostics);
  ASSERT_FALSE(diagnostics.hasErrors()) << diagnostics.toString();
  EXPECT_EQ(settings.agents.at(0).limits.tmpBytes, 16777216u);
}

TEST(Config, RejectsBadSandboxKeys) {
  ConfigNode agent = agentNode(3);
  ConfigNode limits = ConfigNode::map(at(13, 5));
  limits.set("memory_bytes", scalar("16777216", 14), at(14, 7));
  limits.set("tmp_bytes", scalar("33554432", 15), at(15, 7));
  limits.set("processes", scalar("0", 16), at(16, 7));
  limits.set("disk_bytes", scalar("1000", 17), at(17, 7));
  agent.set("limits", std::move(limits), at(13, 5));
  ConfigNode section = sectionWith(std::move(agent));
  section.set("sandbox_uid", scalar("0", 20), at(20, 1));
  section.set("sandbox_gid", scalar("65534", 21), at(21, 1));
  section.set("workspace_retention", scalar("9000h", 22), at(22, 1));
  Diagnostics diagnostics;
  (void)readSettings(section, diagnostics);
  std::string text = diagnostics.toString();
  EXPECT_THAT(text, HasSubstr("hive.yaml:15:9: error: 'tmp_bytes': must not exceed memory_bytes"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:16:9: error: 'processes': must be at least 1"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:17:9: error: 'disk_bytes': must be at least 1048576"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:20:9: error: 'sandbox_uid': must be between 1 and 4294967294"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:21:9: error: 'sandbox_gid': must be between 1 and 4294967294"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:22:9: error: 'workspace_retention': must be at most 8760h"));
  EXPECT_EQ(diagnostics.errorCount(), 6u) << text;
}

TEST(Config, ReadsEveryKey) {
  ConfigNode agent = agentNode(3);
  agent.set("capabilities", list({"python", "review"}, 6), at(6, 5));
  agent.set("max_concurrency", scalar("3", 7), at(7, 5));
  agent.set("timeout", scalar("90s", 8), at(8, 5));
  agent.set("network", scalar("true", 9), at(9, 5));
  agent.set("git_worktree", scalar("true", 10), at(10, 5));
  ConfigNode environment = ConfigNode::map(at(11, 5));
  environment.set("API_KEY", scalar("k", 12), at(12, 7));
  agent.set("environment", std::move(environment), at(11, 5));
  ConfigNode limits = ConfigNode::map(at(13, 5));
  limits.set("cpu_seconds", scalar("10", 14), at(14, 7));
  limits.set("memory_bytes", scalar("1073741824", 15), at(15, 7));
  limits.set("file_size_bytes", scalar("1048576", 16), at(16, 7));
  limits.set("open_files", scalar("64", 17), at(17, 7));
  limits.set("output_bytes", scalar("4096", 18), at(18, 7));
  agent.set("limits", std::move(limits), at(13, 5));
  ConfigNode section = sectionWith(std::move(agent));
  section.set("sandbox", scalar("rlimits", 20), at(20, 1));

  Diagnostics diagnostics;
  Settings settings = readSettings(section, diagnostics);
  ASSERT_FALSE(diagnostics.hasErrors()) << diagnostics.toString();
  const AgentSettings& read = settings.agents.at(0);
  EXPECT_EQ(read.capabilities, (std::vector<std::string>{"python", "review"}));
  EXPECT_EQ(read.maxConcurrency, 3u);
  EXPECT_EQ(read.timeout, std::chrono::seconds(90));
  EXPECT_EQ(read.network, Network::kAllowed);
  EXPECT_TRUE(read.gitWorktree);
  EXPECT_EQ(read.environment.at("API_KEY"), "k");
  EXPECT_EQ(read.limits.cpuSeconds, 10u);
  EXPECT_EQ(read.limits.memoryBytes, 1073741824u);
  EXPECT_EQ(read.limits.fileSizeBytes, 1048576u);
  EXPECT_EQ(read.limits.openFiles, 64u);
  EXPECT_EQ(read.limits.outputBytes, 4096u);
  EXPECT_EQ(settings.sandbox, SandboxMode::kRlimits);
}

TEST(Config, ReportsEachProblemAtItsLocation) {
  ConfigNode agent = agentNode(3);
  agent.set("name", scalar("bad name!", 3), at(3, 5));
  agent.set("workspace", scalar("relative/dir", 5), at(5, 5));
  agent.set("max_concurrency", scalar("0", 7), at(7, 5));
  agent.set("timeout", scalar("soon", 8), at(8, 5));
  agent.set("netwrok", scalar("true", 9), at(9, 5));
  ConfigNode environment = ConfigNode::map(at(10, 5));
  environment.set("1BAD", scalar("x", 11), at(11, 7));
  agent.set("environment", std::move(environment), at(10, 5));
  ConfigNode limits = ConfigNode::map(at(12, 5));
  limits.set("memory_bytes", scalar("-5", 13), at(13, 7));
  agent.set("limits", std::move(limits), at(12, 5));
  ConfigNode section = sectionWith(std::move(agent));
  section.set("sandbox", scalar("docker", 20), at(20, 1));
  section.set("cgroups", scalar("v1", 21), at(21, 1));

  Diagnostics diagnostics;
  (void)readSettings(section, diagnostics);
  std::string text = diagnostics.toString();
  EXPECT_THAT(text, HasSubstr("hive.yaml:3:9: error: 'name': must match [A-Za-z0-9_-]{1,64}"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:5:9: error: 'workspace': must be an absolute path"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:7:9: error: 'max_concurrency': must be between 1 and 1024"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:8:9: error: 'timeout': expected a duration"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:9:5: error: unknown key 'netwrok' (did you mean 'network'?)"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:11:7: error: 'environment': '1BAD' is not a variable name"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:13:9: error: 'memory_bytes': must be at least 1048576"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:20:9: error: 'sandbox': must be auto, bubblewrap or rlimits"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:21:9: error: 'cgroups': must be auto or off, got 'v1'"));
  EXPECT_EQ(diagnostics.errorCount(), 9u) << text;
}

TEST(Config, RequiresNameCommandAndWorkspace) {
  ConfigNode section = sectionWith(ConfigNode::map(at(3, 5)));
  Diagnostics diagnostics;
  (void)readSettings(section, diagnostics);
  std::string text = diagnostics.toString();
  EXPECT_THAT(text, HasSubstr("hive.yaml:3:5: error: missing required key 'name'"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:3:5: error: missing required key 'command'"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:3:5: error: missing required key 'workspace'"));
}

TEST(Config, RejectsAnEmptyCommandARelativeProgramAndDuplicateNames) {
  ConfigNode first = agentNode(3);
  first.set("command", list({}, 4), at(4, 5));
  ConfigNode second = agentNode(8);
  second.set("command", list({"bin/agent"}, 9), at(9, 5));
  ConfigNode section = ConfigNode::map(at(1, 1));
  ConfigNode agents = ConfigNode::sequence(at(2, 3));
  agents.push(std::move(first));
  agents.push(std::move(second));
  agents.push(ConfigNode::scalar("oops", at(14, 5)));
  section.set("agents", std::move(agents), at(2, 3));

  Diagnostics diagnostics;
  (void)readSettings(section, diagnostics);
  std::string text = diagnostics.toString();
  EXPECT_THAT(text, HasSubstr("hive.yaml:4:9: error: 'command': must name a program"));
  EXPECT_THAT(text,
              HasSubstr("hive.yaml:9:9: error: 'command': the program must be a name looked up in PATH"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:8:9: error: 'name': agent 'coder' is defined twice"));
  EXPECT_THAT(text, HasSubstr("hive.yaml:14:5: error: 'agents': each agent must be a map"));
}

}  // namespace
}  // namespace hive::task_execution_engine
