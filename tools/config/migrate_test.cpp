// hive config migrate: the plan on texts, and the command on real files.
#include "tools/config/migrate.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace hive::tools {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kVersion1 = R"(# a site layer
hive:
  log_level: info

plugins:
  task_manager:
    config:
      aging: 30s
      # keep finished tasks three days
      retention: 72h
      retention_by_type:
        build: 720h   # builds are audited
      retention_batch: 50
      max_attempts_limit: 5
      retention_period: 5s
  api:
    config: {listen: "127.0.0.1:9000"}
)";

TEST(ConfigMigrationTest, NestsTheRetentionSettingsKeepingCommentsAndOtherKeys) {
  auto plan = planConfigMigration(kVersion1, "site.yaml");
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->fromVersion, 1);
  EXPECT_TRUE(plan->commentsKept);
  ASSERT_EQ(plan->changes.size(), 4u);
  EXPECT_EQ(plan->changes[0].line, 10);
  EXPECT_EQ(plan->changes[0].column, 7);
  EXPECT_EQ(plan->changes[1].what, "plugins.task_manager.config.retention_by_type -> retention.by_type");
  EXPECT_EQ(plan->text, R"(# a site layer
# The config version this file is written for (hive config migrate).
version: 2

hive:
  log_level: info

plugins:
  task_manager:
    config:
      aging: 30s
      # keep finished tasks three days
      retention:
        keep: 72h
        by_type:
          build: 720h   # builds are audited
        batch: 50
        period: 5s
      max_attempts_limit: 5
  api:
    config: {listen: "127.0.0.1:9000"}
)");
  // Migrated once, there is nothing left to do.
  auto again = planConfigMigration(plan->text, "site.yaml");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_TRUE(again->upToDate());
  EXPECT_EQ(again->text, plan->text);
}

TEST(ConfigMigrationTest, FlowStyleIsReemittedAndSaysSo) {
  auto plan = planConfigMigration(
      "version: 1\nplugins:\n  task_manager:\n    config: {retention: 1h, retention_batch: 10}  # short\n",
      "flow.yaml");
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_FALSE(plan->commentsKept);
  YAML::Node root = YAML::Load(plan->text);
  EXPECT_EQ(root["version"].as<int>(), 2);
  EXPECT_EQ(root["plugins"]["task_manager"]["config"]["retention"]["keep"].as<std::string>(), "1h");
  EXPECT_EQ(root["plugins"]["task_manager"]["config"]["retention"]["batch"].as<int>(), 10);
  EXPECT_FALSE(root["plugins"]["task_manager"]["config"]["retention_batch"]);
}

TEST(ConfigMigrationTest, AFileWithoutOldSettingsOnlyGetsItsVersion) {
  auto plan = planConfigMigration("hive:\n  log_level: info\n", "plain.yaml");
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(plan->changes, IsEmpty());
  EXPECT_EQ(plan->text,
            "# The config version this file is written for (hive config migrate).\nversion: 2\n\nhive:\n"
            "  log_level: info\n");
  auto current = planConfigMigration("version: 2\nhive: {}\n", "current.yaml");
  ASSERT_TRUE(current.ok());
  EXPECT_TRUE(current->upToDate());
}

TEST(ConfigMigrationTest, BadInputIsNamedAndNothingIsPlanned) {
  auto mixed = planConfigMigration(
      "plugins:\n  task_manager:\n    config:\n      retention:\n        keep: 1d\n      retention_batch: "
      "5\n",
      "mixed.yaml");
  ASSERT_FALSE(mixed.ok());
  EXPECT_THAT(mixed.status().message(),
              HasSubstr("mixed.yaml:6:7: 'retention_batch' (config version 1) next to"));
  auto newer = planConfigMigration("version: 9\n", "newer.yaml");
  ASSERT_FALSE(newer.ok());
  EXPECT_THAT(newer.status().message(),
              HasSubstr("newer.yaml:1:10: 'version': expected an integer from 1 to 2"));
  auto broken = planConfigMigration("plugins: [\n", "broken.yaml");
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(broken.status().message(), HasSubstr("broken.yaml:"));
}

class MigrateCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hive-migrate-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    file_ = (dir_ / "site.yaml").string();
    std::ofstream(file_) << kVersion1;
    ::chmod(file_.c_str(), 0640);
  }
  void TearDown() override { fs::remove_all(dir_); }
  static std::string read(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
  fs::path dir_;
  std::string file_;
};

TEST_F(MigrateCommandTest, WritesABackupMigratesAndRollsBack) {
  EXPECT_EQ(migrateCommand({file_, false, false}), 0);
  EXPECT_EQ(read(file_ + ".v1.bak"), kVersion1);
  EXPECT_THAT(read(file_), HasSubstr("      retention:\n        keep: 72h\n"));
  EXPECT_THAT(configVersionWarnings(file_), IsEmpty());
  struct stat st {};
  ASSERT_EQ(::stat(file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);  // an operator's permissions survive (secrets may be in it)
  // A second migration of the same file has nothing to do and keeps the backup.
  EXPECT_EQ(migrateCommand({file_, false, false}), 0);
  EXPECT_TRUE(fs::exists(file_ + ".v1.bak"));
  EXPECT_EQ(migrateCommand({file_, true, false}), 0);
  EXPECT_EQ(read(file_), kVersion1);
  EXPECT_FALSE(fs::exists(file_ + ".v1.bak"));
  EXPECT_EQ(migrateCommand({file_, true, false}), 1);  // nothing left to roll back to
}

TEST_F(MigrateCommandTest, DryRunAndRefusalsChangeNothing) {
  EXPECT_EQ(migrateCommand({file_, false, true}), 0);
  EXPECT_EQ(read(file_), kVersion1);
  EXPECT_FALSE(fs::exists(file_ + ".v1.bak"));
  std::ofstream(file_ + ".v1.bak") << "an older backup\n";
  EXPECT_EQ(migrateCommand({file_, false, false}), 1);  // it would overwrite an earlier backup
  EXPECT_EQ(read(file_), kVersion1);
  EXPECT_EQ(read(file_ + ".v1.bak"), "an older backup\n");
  EXPECT_EQ(migrateCommand({(dir_ / "missing.yaml").string(), false, false}), 1);
}

TEST_F(MigrateCommandTest, CheckConfigWarningsNameEachOldSettingAndTheCommand) {
  auto warnings = configVersionWarnings(file_);
  ASSERT_EQ(warnings.size(), 4u);
  EXPECT_EQ(warnings[0], file_ +
                             ":10:7: warning: the shape of config version 1 "
                             "(plugins.task_manager.config.retention -> retention.keep in version 2); "
                             "`hive config migrate " +
                             file_ + "` rewrites it");
  std::ofstream(file_) << "version: 1\nhive: {}\n";
  EXPECT_THAT(
      configVersionWarnings(file_),
      ElementsAre(file_ + ": warning: written for config version 1 (this Hive: 2); `hive config migrate " +
                  file_ + "` rewrites it"));
}

// Every config the project ships is on the current version.
TEST(ShippedConfigVersionTest, ShippedFilesAreCurrent) {
  for (const char* file : {"config/base.yaml", "config/development.yaml", "config/test.yaml",
                           "config/production.yaml", "deploy/container.yaml"}) {
    const std::string path = std::string(HIVE_SOURCE_DIR) + "/" + file;
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    auto plan = planConfigMigration(text.str(), path);
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    EXPECT_TRUE(plan->upToDate()) << file;
  }
}

}  // namespace
}  // namespace hive::tools
