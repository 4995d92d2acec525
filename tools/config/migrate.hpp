#pragma once
// `hive config migrate FILE`: rewrites a config file written for an older
// config version into the current shape, keeping its comments where the
// change is a move of block-style keys (the common case), else re-emitting the
// file through yaml-cpp (comments lost, and said so). A backup of the original
// is written first; `--rollback` restores it.
//
// The version of a file is its top-level `version:` (absent: 1, the shape of
// every file written before versions existed). Each step from N to N+1 is a
// list of edits of in-tree plugins' settings; a third-party plugin's settings
// are never touched.

#include <string>
#include <vector>

#include "hive/status.hpp"
#include "host/config/kernel_config.hpp"

namespace hive::tools {

using host::kConfigVersion;

struct MigrationChange {
  int line = 0;  // 1-based, in the original text
  int column = 0;
  std::string what;  // "plugins.task_manager.config.retention_by_type -> retention.by_type"
};

struct MigrationPlan {
  int fromVersion = 1;
  int toVersion = kConfigVersion;
  std::vector<MigrationChange> changes;  // empty: only the version line (if any) changes
  bool versioned = false;                // the file has a `version:` of its own
  bool commentsKept = true;              // false: the text was re-emitted by yaml-cpp
  std::string text;                      // the migrated file
  bool upToDate() const { return fromVersion == toVersion; }
};

// Plans the migration of `text` (the contents of `path`, named in errors).
// Errors: the text is not YAML, its version is not an integer in 1..current,
// or it mixes old and new shapes of one setting (fix by hand, named at line:col).
Result<MigrationPlan> planConfigMigration(const std::string& text, const std::string& path);

// The old-shape settings of a file, as "path:line:col: ..." warnings for
// `hive check-config` and `hive run`; empty when the file is current or unreadable.
std::vector<std::string> configVersionWarnings(const std::string& path);

struct MigrateOptions {
  std::string file;
  bool rollback = false;
  bool dryRun = false;
};

// The command: prints what it changes, writes FILE.v<from>.bak then FILE
// (atomically, same mode), or restores the newest backup. Exit status.
int migrateCommand(const MigrateOptions& options);

}  // namespace hive::tools
