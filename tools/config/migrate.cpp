#include "tools/config/migrate.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include <yaml-cpp/yaml.h>

namespace hive::tools {
namespace {

namespace fs = std::filesystem;

// Settings of one map that move, renamed, into a new child map of it:
// `retention: 3d` + `retention_batch: 50` -> `retention: {keep: 3d, batch: 50}`.
struct Nest {
  std::vector<std::string> path;                          // of the map that holds the settings
  std::string parent;                                     // the new child map
  std::vector<std::pair<std::string, std::string>> keys;  // old key -> key inside `parent`
};

// One step per version: what changed from version `from` to `from + 1`.
struct Step {
  int from;
  std::vector<Nest> nests;
};

const std::vector<Step>& steps() {
  static const std::vector<Step> kSteps = {
      // 2: task_manager's four retention settings became one map.
      {1,
       {{{"plugins", "task_manager", "config"},
         "retention",
         {{"retention", "keep"},
          {"retention_by_type", "by_type"},
          {"retention_batch", "batch"},
          {"retention_period", "period"}}}}},
  };
  return kSteps;
}

std::string joined(const std::vector<std::string>& path) {
  std::string out;
  for (const auto& part : path) out += (out.empty() ? "" : ".") + part;
  return out;
}

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string joinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

// Leading spaces of a line; -1 for a blank one.
int indentOf(const std::string& line) {
  auto first = line.find_first_not_of(' ');
  if (first == std::string::npos || line[first] == '\r') return -1;
  return static_cast<int>(first);
}

// One past the last line of the block-map entry whose key is at (line, column):
// its value's lines run until a non-blank line indented no deeper than the key.
std::size_t entryEnd(const std::vector<std::string>& lines, std::size_t line, int column) {
  std::size_t end = line + 1;
  for (std::size_t i = line + 1; i < lines.size(); ++i) {
    int indent = indentOf(lines[i]);
    if (indent < 0) continue;
    if (indent <= column) break;
    end = i + 1;
  }
  return end;
}

Result<YAML::Node> parse(const std::string& text, const std::string& path) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return invalidArgument(path + ":" + std::to_string(e.mark.line + 1) + ":" +
                           std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

std::string where(const std::string& path, const YAML::Mark& mark) {
  return path + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

// The map at `path` under `root`, or an undefined node.
YAML::Node mapAt(const YAML::Node& root, const std::vector<std::string>& path) {
  YAML::Node node = root;
  for (const auto& part : path) {
    if (!node.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    // reset(), not operator=: assigning a Node overwrites what it refers to.
    node.reset(node[part]);
  }
  return node.IsMap() ? node : YAML::Node(YAML::NodeType::Undefined);
}

struct Found {
  std::string key;
  std::string newKey;
  YAML::Mark mark;
};

// The old-shape keys of `nest` present in `map`, in file order. An error when
// the file has the new shape too (the parent as a map next to an old key).
Result<std::vector<Found>> oldKeys(const YAML::Node& map, const Nest& nest, const std::string& path) {
  std::vector<Found> found;
  std::optional<YAML::Mark> newShape;
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string key = it->first.Scalar();
    if (key == nest.parent && it->second.IsMap()) {
      newShape = it->first.Mark();
      continue;
    }
    for (const auto& [from, to] : nest.keys)
      if (key == from) found.push_back({from, to, it->first.Mark()});
  }
  if (newShape && !found.empty())
    return invalidArgument(where(path, found.front().mark) + ": '" + found.front().key +
                           "' (config version 1) next to '" + nest.parent +
                           "' as a map (the current shape) at " + where(path, *newShape) +
                           ": keep one of them, by hand");
  return found;
}

// Moves the keys with their values, comments inside them included, into a new
// `parent:` block at the first one's place. Only for block style with plain
// keys; false when the text is not that (the caller re-emits instead).
bool nestInText(std::vector<std::string>& lines, const std::vector<Found>& found, const Nest& nest) {
  const int column = found.front().mark.column;
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  for (const auto& f : found) {
    const auto line = static_cast<std::size_t>(f.mark.line);
    if (f.mark.column != column || line >= lines.size() ||
        lines[line].compare(static_cast<std::size_t>(column), f.key.size(), f.key) != 0 ||
        lines[line].size() <= static_cast<std::size_t>(column) + f.key.size() ||
        lines[line][static_cast<std::size_t>(column) + f.key.size()] != ':')
      return false;
    ranges.emplace_back(line, entryEnd(lines, line, column));
  }
  std::vector<std::string> block{std::string(static_cast<std::size_t>(column), ' ') + nest.parent + ":"};
  const std::string deeper = "  ";
  for (std::size_t i = 0; i < found.size(); ++i) {
    for (std::size_t l = ranges[i].first; l < ranges[i].second; ++l) {
      std::string line = lines[l];
      if (l == ranges[i].first)
        line.replace(static_cast<std::size_t>(column), found[i].key.size(), found[i].newKey);
      block.push_back(indentOf(line) < 0 ? line : deeper + line);
    }
  }
  std::vector<std::string> out;
  std::size_t next = 0;
  for (std::size_t l = 0; l < lines.size(); ++l) {
    if (next < ranges.size() && l == ranges[next].first) {
      if (next == 0) out.insert(out.end(), block.begin(), block.end());
      l = ranges[next].second - 1;
      ++next;
      continue;
    }
    out.push_back(lines[l]);
  }
  lines = std::move(out);
  return true;
}

void nestInTree(YAML::Node map, const std::vector<Found>& found, const Nest& nest) {
  YAML::Node child(YAML::NodeType::Map);
  for (const auto& f : found) child[f.newKey] = YAML::Clone(map[f.key]);
  for (const auto& f : found) map.remove(f.key);
  map[nest.parent] = child;
}

std::string emit(const YAML::Node& root) {
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

// Sets the top-level `version:` in place, or adds it before the first key.
std::string withVersion(const std::string& text, const YAML::Node& root, int version) {
  std::vector<std::string> lines = splitLines(text);
  const std::string value = std::to_string(version);
  if (root.IsMap() && root["version"] && root["version"].IsScalar()) {
    YAML::Mark mark = root["version"].Mark();
    std::string& line = lines[static_cast<std::size_t>(mark.line)];
    auto start = static_cast<std::size_t>(mark.column);
    auto end = line.find_first_of(" \t#", start);
    line.replace(start, end == std::string::npos ? std::string::npos : end - start, value);
    return joinLines(lines);
  }
  std::size_t at = lines.size();
  if (root.IsMap() && root.size() > 0) at = static_cast<std::size_t>(root.begin()->first.Mark().line);
  lines.insert(
      lines.begin() + static_cast<std::ptrdiff_t>(at),
      {"# The config version this file is written for (hive config migrate).", "version: " + value, ""});
  return joinLines(lines);
}

Result<std::string> readText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return notFound(path + ": cannot read: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Writes `text` to `path` through a temporary file and a rename, with `mode`.
Status writeAtomically(const std::string& path, const std::string& text, mode_t mode) {
  const std::string temporary = path + ".migrate-tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return internalError(temporary + ": cannot write: " + std::strerror(errno));
  }
  if (::chmod(temporary.c_str(), mode) != 0 || ::rename(temporary.c_str(), path.c_str()) != 0) {
    std::string reason = std::strerror(errno);
    ::unlink(temporary.c_str());
    return internalError(path + ": cannot replace: " + reason);
  }
  return okStatus();
}

// FILE.v<N>.bak files beside FILE, newest version last.
std::vector<std::pair<int, std::string>> backupsOf(const std::string& file) {
  std::vector<std::pair<int, std::string>> found;
  const fs::path target(file);
  const std::string prefix = target.filename().string() + ".v";
  std::error_code error;
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0 || name.size() <= prefix.size() + 4 || !name.ends_with(".bak")) continue;
    const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - 4);
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit) || digits.size() > 6)
      continue;
    found.emplace_back(std::stoi(digits), (dir / name).string());
  }
  std::sort(found.begin(), found.end());
  return found;
}

int rollback(const std::string& file) {
  auto backups = backupsOf(file);
  if (backups.empty()) {
    std::cerr << "hive config migrate: " << file << ": no backup (" << file << ".v<N>.bak) to roll back to\n";
    return 1;
  }
  const auto& [version, backup] = backups.back();
  auto text = readText(backup);
  struct stat st {};
  if (!text.ok() || ::stat(backup.c_str(), &st) != 0) {
    std::cerr << "hive config migrate: " << backup << ": cannot read\n";
    return 1;
  }
  if (auto written = writeAtomically(file, *text, st.st_mode & 07777); !written.ok()) {
    std::cerr << "hive config migrate: " << written.message() << "\n";
    return 1;
  }
  ::unlink(backup.c_str());
  std::cout << file << ": restored from " << backup << " (config version " << version << ")\n";
  return 0;
}

}  // namespace

Result<MigrationPlan> planConfigMigration(const std::string& text, const std::string& path) {
  auto root = parse(text, path);
  if (!root.ok()) return root.status();
  MigrationPlan plan;
  plan.text = text;
  if (root->IsMap() && root->operator[]("version")) {
    const YAML::Node version = root->operator[]("version");
    int parsed = 0;
    if (!version.IsScalar() || !YAML::convert<int>::decode(version, parsed) || parsed < 1 ||
        parsed > kConfigVersion)
      return invalidArgument(where(path, version.Mark()) + ": 'version': expected an integer from 1 to " +
                             std::to_string(kConfigVersion));
    plan.fromVersion = parsed;
    plan.versioned = true;
  }
  for (const auto& step : steps()) {
    if (step.from < plan.fromVersion) continue;
    for (const auto& nest : step.nests) {
      auto current = parse(plan.text, path);
      if (!current.ok()) return current.status();
      YAML::Node map = mapAt(*current, nest.path);
      if (!map) continue;
      auto found = oldKeys(map, nest, path);
      if (!found.ok()) return found.status();
      if (found->empty()) continue;
      for (const auto& f : *found)
        plan.changes.push_back({f.mark.line + 1, f.mark.column + 1,
                                joined(nest.path) + "." + f.key + " -> " + nest.parent + "." + f.newKey});
      std::vector<std::string> lines = splitLines(plan.text);
      if (map.Style() != YAML::EmitterStyle::Flow && nestInText(lines, *found, nest)) {
        plan.text = joinLines(lines);
      } else {
        nestInTree(map, *found, nest);
        plan.text = emit(*current);
        plan.commentsKept = false;
      }
    }
  }
  if (plan.upToDate()) return plan;
  auto migrated = parse(plan.text, path);
  if (!migrated.ok())
    return internalError("the migrated text does not parse (" + migrated.status().message() + ")");
  plan.text = withVersion(plan.text, *migrated, kConfigVersion);
  return plan;
}

std::vector<std::string> configVersionWarnings(const std::string& path) {
  auto text = readText(path);
  if (!text.ok()) return {};
  auto plan = planConfigMigration(*text, path);
  if (!plan.ok() || plan->upToDate()) return {};
  const std::string how = "`hive config migrate " + path + "` rewrites it";
  std::vector<std::string> warnings;
  for (const auto& change : plan->changes)
    warnings.push_back(path + ":" + std::to_string(change.line) + ":" + std::to_string(change.column) +
                       ": warning: the shape of config version " + std::to_string(plan->fromVersion) + " (" +
                       change.what + " in version " + std::to_string(kConfigVersion) + "); " + how);
  if (warnings.empty() && plan->versioned)
    warnings.push_back(path + ": warning: written for config version " + std::to_string(plan->fromVersion) +
                       " (this Hive: " + std::to_string(kConfigVersion) + "); " + how);
  return warnings;
}

int migrateCommand(const MigrateOptions& options) {
  const std::string& file = options.file;
  if (options.rollback) return rollback(file);
  auto text = readText(file);
  if (!text.ok()) {
    std::cerr << "hive config migrate: " << text.status().message() << "\n";
    return 1;
  }
  auto plan = planConfigMigration(*text, file);
  if (!plan.ok()) {
    std::cerr << "hive config migrate: " << plan.status().message() << "\n";
    return 1;
  }
  if (plan->upToDate()) {
    std::cout << file << ": already on config version " << kConfigVersion << "; nothing to do\n";
    return 0;
  }
  for (const auto& change : plan->changes)
    std::cerr << file << ":" << change.line << ":" << change.column << ": " << change.what << "\n";
  if (!plan->commentsKept)
    std::cerr << file
              << ": comments are not kept: a setting to move is in flow style ({...}) or a quoted key, "
              << "so yaml-cpp re-emits the whole file; the backup keeps the original\n";
  if (options.dryRun) {
    std::cout << plan->text;
    return 0;
  }
  const std::string backup = file + ".v" + std::to_string(plan->fromVersion) + ".bak";
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    std::cerr << "hive config migrate: " << file << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  if (::access(backup.c_str(), F_OK) == 0) {
    std::cerr << "hive config migrate: " << backup
              << " exists (an earlier migration's backup): roll back with "
              << "--rollback or remove it first\n";
    return 1;
  }
  const mode_t mode = st.st_mode & 07777;
  if (auto saved = writeAtomically(backup, *text, mode); !saved.ok()) {
    std::cerr << "hive config migrate: " << saved.message() << "\n";
    return 1;
  }
  if (auto written = writeAtomically(file, plan->text, mode); !written.ok()) {
    std::cerr << "hive config migrate: " << written.message() << " (the original is unchanged)\n";
    return 1;
  }
  std::cout << file << ": migrated from config version " << plan->fromVersion << " to " << kConfigVersion
            << " (" << plan->changes.size() << " setting(s) moved; backup " << backup
            << ", undo with --rollback)"
            << "; check it with `hive check-config -c " << file << "`\n";
  return 0;
}

}  // namespace hive::tools
