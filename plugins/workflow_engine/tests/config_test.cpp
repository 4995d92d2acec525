// The workflow_engine section: defaults, the retention map, bad values named.
#include "config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hive::workflow_engine {
namespace {

using ::testing::HasSubstr;

ConfigNode section(std::initializer_list<std::pair<std::string, std::string>> values,
                   std::initializer_list<std::pair<std::string, std::string>> retention = {}) {
  ConfigNode node = ConfigNode::map({"hive.yaml", 1, 1});
  int line = 2;
  for (const auto& [key, value] : values)
    node.set(key, ConfigNode::scalar(value, {"hive.yaml", line++, 10}), {"hive.yaml", line, 3});
  if (retention.size() > 0) {
    ConfigNode map = ConfigNode::map({"hive.yaml", line, 3});
    for (const auto& [key, value] : retention)
      map.set(key, ConfigNode::scalar(value, {"hive.yaml", ++line, 12}), {"hive.yaml", line, 5});
    node.set("retention", std::move(map), {"hive.yaml", line, 3});
  }
  return node;
}

TEST(WorkflowConfig, DefaultsAreValid) {
  Diagnostics diagnostics;
  EngineOptions options = readConfig(ConfigNode::map(), diagnostics);
  EXPECT_EQ(diagnostics.errorCount(), 0u);
  EXPECT_EQ(options.retention.keep, std::chrono::hours(24 * 7));
  EXPECT_EQ(options.retention.batch, 100u);
}

TEST(WorkflowConfig, RetentionIsAMapLikeTaskManagers) {
  Diagnostics diagnostics;
  EngineOptions options =
      readConfig(section({}, {{"keep", "48h"}, {"batch", "10"}, {"period", "5s"}}), diagnostics);
  EXPECT_EQ(diagnostics.errorCount(), 0u) << diagnostics.toString();
  EXPECT_EQ(options.retention.keep, std::chrono::hours(48));
  EXPECT_EQ(options.retention.batch, 10u);
  EXPECT_EQ(options.retention.period, std::chrono::seconds(5));
}

TEST(WorkflowConfig, BadValuesAreAllNamed) {
  Diagnostics diagnostics;
  (void)readConfig(section({{"max_steps", "0"}, {"schedule_tick", "2m"}, {"run_retention", "1h"}},
                           {{"keep", "10s"}, {"batch", "5000"}}),
                   diagnostics);
  const std::string text = diagnostics.toString();
  EXPECT_THAT(text, HasSubstr("'max_steps': must be between 1 and 100000, got 0"));
  EXPECT_THAT(text, HasSubstr("'schedule_tick': must be between 100ms and 1m, got 2m"));
  EXPECT_THAT(text, HasSubstr("'keep': must be between 1m and 87600h, got 10s"));
  EXPECT_THAT(text, HasSubstr("'batch': must be between 1 and 1000, got 5000"));
  EXPECT_THAT(text, HasSubstr("unknown key 'run_retention'"));
  Diagnostics scalar;
  (void)readConfig(section({{"retention", "7d"}}), scalar);
  EXPECT_THAT(scalar.toString(), HasSubstr("'retention': expected a map (keep, batch, period)"));
}

}  // namespace
}  // namespace hive::workflow_engine
