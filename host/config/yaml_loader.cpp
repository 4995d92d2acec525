#include "host/config/yaml_loader.hpp"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace hive::host {
namespace {

// Config files are small; anything larger is a mistake, not a config.
constexpr std::size_t kMaxConfigBytes = 4 * 1024 * 1024;
constexpr int kMaxDepth = 64;

SourceLocation where(const YAML::Mark& mark, const std::string& file) {
  if (mark.is_null()) return {file, 0, 0};
  return {file, mark.line + 1, mark.column + 1};
}

struct Converter {
  const std::string& file;
  Diagnostics& diagnostics;

  ConfigNode convert(const YAML::Node& node, int depth) {
    SourceLocation at = where(node.Mark(), file);
    if (depth > kMaxDepth) {
      diagnostics.error(at, "nesting deeper than " + std::to_string(kMaxDepth) + " levels");
      return ConfigNode::null(at);
    }
    switch (node.Type()) {
      case YAML::NodeType::Scalar: return ConfigNode::scalar(node.Scalar(), at);
      case YAML::NodeType::Sequence: {
        ConfigNode out = ConfigNode::sequence(at);
        for (const auto& item : node) out.push(convert(item, depth + 1));
        return out;
      }
      case YAML::NodeType::Map: {
        ConfigNode out = ConfigNode::map(at);
        std::map<std::string, int> firstLine;
        for (const auto& entry : node) {
          SourceLocation keyAt = where(entry.first.Mark(), file);
          if (!entry.first.IsScalar()) {
            diagnostics.error(keyAt, "map keys must be plain strings");
            continue;
          }
          const std::string& key = entry.first.Scalar();
          auto [it, inserted] = firstLine.emplace(key, keyAt.line);
          if (!inserted) {
            diagnostics.error(keyAt, "duplicate key '" + key + "' (first at line " + std::to_string(it->second) + ")");
            continue;
          }
          out.set(key, convert(entry.second, depth + 1), keyAt);
        }
        return out;
      }
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined: return ConfigNode::null(at);
    }
    return ConfigNode::null(at);
  }
};

}  // namespace

Result<ConfigNode> parseYamlText(std::string_view text, const std::string& fileName, Diagnostics& diagnostics) {
  if (text.size() > kMaxConfigBytes) {
    diagnostics.error({fileName, 0, 0}, "file is larger than 4 MiB");
    return invalidArgument(fileName + ": too large");
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    // e.msg is the message without yaml-cpp's own "yaml-cpp: error at line..." prefix.
    diagnostics.error(where(e.mark, fileName), e.msg);
    return invalidArgument(fileName + ": invalid YAML");
  } catch (const std::exception& e) {
    diagnostics.error({fileName, 0, 0}, e.what());
    return invalidArgument(fileName + ": invalid YAML");
  }
  std::size_t errorsBefore = diagnostics.errorCount();
  ConfigNode out;
  try {
    out = Converter{fileName, diagnostics}.convert(root, 0);
  } catch (const YAML::Exception& e) {
    diagnostics.error(where(e.mark, fileName), e.msg);
  }
  if (diagnostics.errorCount() > errorsBefore) return invalidArgument(fileName + ": invalid YAML");
  return out;
}

Result<ConfigNode> parseYamlFile(const std::string& path, Diagnostics& diagnostics) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string reason = std::strerror(errno);
    diagnostics.error({path, 0, 0}, "cannot read config file: " + reason);
    return notFound(path + ": " + reason);
  }
  std::string text;
  char buffer[65536];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) break;
  }
  return parseYamlText(text, path, diagnostics);
}

}  // namespace hive::host
