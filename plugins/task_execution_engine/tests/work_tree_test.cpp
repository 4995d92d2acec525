// The walks over a job's directory, on real files: what the sweep after each
// job leaves, what it never touches (anything reached through a symlink or
// another hard link), and how trees are measured and removed.
#include "work_tree.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hive::task_execution_engine {
namespace {

namespace fs = std::filesystem;

class WorkTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/hive-work-tree-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    temp_ = pattern;
    root_ = temp_ / "task";
    fs::create_directories(root_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(temp_, ignored);
  }

  static void write(const fs::path& path, std::size_t bytes, mode_t mode = 0644) {
    std::ofstream(path) << std::string(bytes, 'x');
    ASSERT_EQ(chmod(path.c_str(), mode), 0) << path;
  }
  static mode_t modeOf(const fs::path& path) {
    struct stat info {};
    EXPECT_EQ(lstat(path.c_str(), &info), 0) << path;
    return info.st_mode & 07777;
  }

  fs::path temp_;
  fs::path root_;
};

TEST_F(WorkTreeTest, SweepClearsEveryPrivilegeBitAndFollowsNoSymlink) {
  write(root_ / "setuid", 10, 04755);
  fs::create_directories(root_ / "a" / "b");
  write(root_ / "a" / "b" / "setgid", 10, 02755);
  ASSERT_EQ(chmod((root_ / "a").c_str(), 02755), 0);
  // Outside the tree, reached only through a symlink: must keep its bits.
  write(temp_ / "outside", 10, 04755);
  fs::create_symlink(temp_ / "outside", root_ / "link");
  fs::create_directory_symlink(temp_, root_ / "dirlink");

  Result<SweepReport> report = sweepPrivileges(root_.string());
  ASSERT_TRUE(report.ok()) << report.status().toString();
  EXPECT_EQ(modeOf(root_ / "setuid"), 0755);
  EXPECT_EQ(modeOf(root_ / "a" / "b" / "setgid"), 0755);
  EXPECT_EQ(modeOf(root_ / "a"), 0755);
  EXPECT_EQ(report->privilegeBitsCleared, 3u);
  EXPECT_EQ(modeOf(temp_ / "outside"), 04755);
  EXPECT_TRUE(fs::is_symlink(root_ / "link"));
}

// Changing the mode of a file linked elsewhere would change the other
// name's file (a hard link to a host binary): that link is removed instead.
TEST_F(WorkTreeTest, APrivilegedFileWithAnotherLinkIsUnlinkedNotChanged) {
  write(temp_ / "host-binary", 10, 04755);
  ASSERT_EQ(link((temp_ / "host-binary").c_str(), (root_ / "hardlink").c_str()), 0);
  Result<SweepReport> report = sweepPrivileges(root_.string());
  ASSERT_TRUE(report.ok()) << report.status().toString();
  EXPECT_FALSE(fs::exists(root_ / "hardlink"));
  EXPECT_EQ(modeOf(temp_ / "host-binary"), 04755);
  EXPECT_EQ(report->removed, 1u);
}

TEST_F(WorkTreeTest, ATreeDeeperThanTheWalkIsFlattenedAndSwept) {
  fs::path deep = root_;
  for (int level = 0; level < kMaxDepth + 20; ++level) deep /= "d";
  fs::create_directories(deep);
  write(deep / "hidden", 10, 04755);
  Result<SweepReport> report = sweepPrivileges(root_.string());
  ASSERT_TRUE(report.ok()) << report.status().toString();
  EXPECT_GE(report->flattened, 1u);
  bool privileged = false;
  for (const auto& entry : fs::recursive_directory_iterator(root_))
    if (!entry.is_symlink() && (modeOf(entry.path()) & (S_ISUID | S_ISGID)) != 0) {
      privileged = true;
      ADD_FAILURE() << entry.path().string().substr(root_.string().size());
    }
  EXPECT_FALSE(privileged);
  Status removed = removeTree(root_.string());
  EXPECT_TRUE(removed.ok()) << removed.toString();
  EXPECT_FALSE(fs::exists(root_));
}

TEST_F(WorkTreeTest, MeasuresAllocatedBytesOnceAndReportsDepth) {
  write(root_ / "one", 1 << 20);
  fs::create_directories(root_ / "sub");
  write(root_ / "sub" / "two", 1 << 20);
  ASSERT_EQ(link((root_ / "one").c_str(), (root_ / "sub" / "again").c_str()), 0);
  DiskUsage usage = measureDiskUsage(root_.string());
  EXPECT_GE(usage.bytes, 2u << 20);
  EXPECT_LT(usage.bytes, 3u << 20);  // the hard link is not counted twice
  EXPECT_FALSE(usage.tooDeep);

  fs::path deep = root_;
  for (int level = 0; level < kMaxDepth + 1; ++level) deep /= "d";
  fs::create_directories(deep);
  EXPECT_TRUE(measureDiskUsage(root_.string()).tooDeep);
}

TEST_F(WorkTreeTest, RemoveTreeLeavesSymlinkTargetsAndStopsWhenAsked) {
  fs::create_directories(temp_ / "keep");
  write(temp_ / "keep" / "file", 10);
  fs::create_directories(root_ / "x");
  fs::create_directory_symlink(temp_ / "keep", root_ / "x" / "link");
  ASSERT_EQ(chmod((root_ / "x").c_str(), 0), 0);  // the job locked itself out
  std::atomic<bool> stop{true};
  EXPECT_EQ(removeTree(root_.string(), &stop).code(), StatusCode::kAborted);
  EXPECT_TRUE(fs::exists(root_));
  Status removed = removeTree(root_.string());
  EXPECT_TRUE(removed.ok()) << removed.toString();
  EXPECT_FALSE(fs::exists(root_));
  EXPECT_TRUE(fs::exists(temp_ / "keep" / "file"));
}

TEST_F(WorkTreeTest, ChangeOwnerGivesEverythingAwayButNotThroughSymlinks) {
  if (geteuid() != 0) GTEST_SKIP() << "changing owners needs root";
  write(root_ / "file", 10);
  write(temp_ / "outside", 10);
  fs::create_symlink(temp_ / "outside", root_ / "link");
  ASSERT_TRUE(changeOwner(root_.string(), 1'950'000'001, 1'950'000'002).ok());
  struct stat info {};
  ASSERT_EQ(stat((root_ / "file").c_str(), &info), 0);
  EXPECT_EQ(info.st_uid, 1'950'000'001u);
  EXPECT_EQ(info.st_gid, 1'950'000'002u);
  ASSERT_EQ(stat((temp_ / "outside").c_str(), &info), 0);
  EXPECT_EQ(info.st_uid, 0u);
  ASSERT_EQ(lstat((root_ / "link").c_str(), &info), 0);
  EXPECT_EQ(info.st_uid, 1'950'000'001u);
}

}  // namespace
}  // namespace hive::task_execution_engine
