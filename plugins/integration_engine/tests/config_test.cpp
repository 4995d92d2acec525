// The config section: every problem reported at its location, secrets kept
// out of the messages.
#include "config.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

namespace hive::integration_engine {
namespace {

ConfigNode scalar(std::string text, int line) {
  return ConfigNode::scalar(std::move(text), {"hive.yaml", line, 7});
}

ConfigNode webhook(std::vector<std::pair<std::string, ConfigNode>> fields) {
  ConfigNode node = ConfigNode::map({"hive.yaml", 3, 5});
  for (auto& [key, value] : fields) node.set(key, std::move(value));
  return node;
}

Settings read(ConfigNode hooks, Diagnostics& diagnostics, ConfigNode outbound = ConfigNode::null()) {
  ConfigNode section = ConfigNode::map();
  section.set("webhooks", std::move(hooks));
  if (!outbound.isNull()) section.set("outbound", std::move(outbound));
  return readConfig(section, diagnostics);
}

TEST(IntegrationConfig, AWebhookWithATaskAndAMapIsRead) {
  ConfigNode hooks = ConfigNode::sequence();
  ConfigNode task = ConfigNode::map();
  task.set("type", scalar("echo", 5));
  ConfigNode caps = ConfigNode::sequence();
  caps.push(scalar("shell", 6));
  task.set("capabilities", std::move(caps));
  task.set("priority", scalar("7", 7));
  ConfigNode map = ConfigNode::map();
  map.set("ref", scalar("/ref", 8));
  map.set("all", scalar("", 9));
  hooks.push(webhook({{"name", scalar("ci", 4)},
                      {"secret", scalar("a-secret-of-sixteen+", 4)},
                      {"scheme", scalar("github", 4)},
                      {"task", std::move(task)},
                      {"map", std::move(map)}}));
  Diagnostics diagnostics;
  Settings settings = read(std::move(hooks), diagnostics);
  ASSERT_FALSE(diagnostics.hasErrors()) << diagnostics.toString();
  ASSERT_EQ(settings.inbound.size(), 1u);
  const InboundEndpoint& endpoint = settings.inbound[0];
  EXPECT_EQ(endpoint.scheme, SignatureScheme::kGithub);
  EXPECT_EQ(boost::json::serialize(endpoint.task),
            R"({"type":"echo","capabilities":["shell"],"priority":7})");
  ASSERT_EQ(endpoint.map.size(), 2u);
  EXPECT_EQ(endpoint.map[0], (std::pair<std::string, std::string>{"ref", "/ref"}));
  EXPECT_FALSE(settings.outbound.allowPrivateTargets);
}

TEST(IntegrationConfig, BadWebhooksAreReportedAtTheirLocationWithoutTheSecret) {
  ConfigNode hooks = ConfigNode::sequence();
  hooks.push(webhook({{"name", scalar("Bad Name", 4)},
                      {"secret", scalar("short-secret", 5)},
                      {"workflow", scalar("w", 6)},
                      {"scheme", scalar("gitlab", 7)}}));
  hooks.push(webhook({{"name", scalar("nothing", 10)}, {"secret", scalar("a-secret-of-sixteen+", 11)}}));
  ConfigNode map = ConfigNode::map();
  map.set("x", scalar("no-pointer", 14));
  hooks.push(webhook({{"name", scalar("nothing", 12)},
                      {"secret", scalar("a-secret-of-sixteen+", 13)},
                      {"workflow", scalar("w", 13)},
                      {"map", std::move(map)}}));
  Diagnostics diagnostics;
  read(std::move(hooks), diagnostics);
  std::string text = diagnostics.toString();
  EXPECT_NE(text.find("hive.yaml:4:7: error: 'name': must match"), std::string::npos) << text;
  EXPECT_NE(text.find("hive.yaml:5:7: error: 'secret': the secret must be at least 16 bytes"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("hive.yaml:7:7: error: 'scheme': must be generic or github"), std::string::npos)
      << text;
  EXPECT_NE(text.find("needs exactly one of workflow or task"), std::string::npos) << text;
  EXPECT_NE(text.find("hive.yaml:14:7: error: 'map.x': must be a JSON pointer"), std::string::npos) << text;
  EXPECT_NE(text.find("webhook 'nothing' is defined twice"), std::string::npos) << text;
  EXPECT_EQ(text.find("short-secret"), std::string::npos) << text;
}

TEST(IntegrationConfig, ASecretFileReadableByOthersIsRefused) {
  std::string path = ::testing::TempDir() + "integration-secret-" + std::to_string(::getpid());
  std::ofstream(path) << "a-secret-of-sixteen-bytes\n";
  ::chmod(path.c_str(), 0644);
  ConfigNode hooks = ConfigNode::sequence();
  hooks.push(
      webhook({{"name", scalar("ci", 4)}, {"secret_file", scalar(path, 5)}, {"workflow", scalar("w", 6)}}));
  Diagnostics diagnostics;
  read(hooks, diagnostics);
  EXPECT_NE(diagnostics.toString().find("readable by others; chmod 600 it"), std::string::npos)
      << diagnostics.toString();
  ::chmod(path.c_str(), 0600);
  Diagnostics fine;
  Settings settings = read(hooks, fine);
  EXPECT_FALSE(fine.hasErrors()) << fine.toString();
  EXPECT_EQ(settings.inbound.at(0).secret, "a-secret-of-sixteen-bytes");
  std::remove(path.c_str());
}

TEST(IntegrationConfig, OutboundLimitsAreChecked) {
  ConfigNode outbound = ConfigNode::map();
  outbound.set("max_attempts", scalar("0", 20));
  outbound.set("backoff_base", scalar("10s", 21));
  outbound.set("backoff_max", scalar("1s", 22));
  outbound.set("concurrency_per_target", scalar("1000", 23));
  outbound.set("retries", scalar("3", 24));
  Diagnostics diagnostics;
  read(ConfigNode::sequence(), diagnostics, std::move(outbound));
  std::string text = diagnostics.toString();
  EXPECT_NE(text.find("hive.yaml:20:7: error: 'max_attempts': must be between 1 and 100"), std::string::npos)
      << text;
  EXPECT_NE(text.find("hive.yaml:22:7: error: 'backoff_max': must be at least backoff_base"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("'concurrency_per_target': must be between 1 and 64"), std::string::npos) << text;
  EXPECT_NE(text.find("unknown key 'retries'"), std::string::npos) << text;
}

}  // namespace
}  // namespace hive::integration_engine
