#include "host/config/yaml_loader.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <sstream>
#include <string_view>
#include <vector>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

namespace hive::host {
namespace {

// Config files are small; anything larger is a mistake, not a config.
constexpr std::size_t kMaxConfigBytes = std::size_t{4} * 1024 * 1024;
constexpr int kMaxDepth = 64;
// Aliases are converted as copies, so a few lines of nested aliases ("billion
// laughs") could otherwise expand into more nodes than memory holds.
constexpr std::size_t kMaxNodes = 100'000;
// Documents counted before saying "found N or more".
constexpr std::size_t kMaxDocuments = 100;

SourceLocation where(const YAML::Mark& mark, const std::string& file) {
  if (mark.is_null()) return {file, 0, 0};
  return {file, mark.line + 1, mark.column + 1};
}

const char* kindName(YAML::NodeType::value type) {
  switch (type) {
    case YAML::NodeType::Sequence: return "a sequence";
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return "null";
    case YAML::NodeType::Scalar: return "a scalar";
  }
  return "unknown";
}

class Converter {
 public:
  Converter(const std::string& file, Diagnostics& diagnostics) : file_(file), diagnostics_(diagnostics) {}

  ConfigNode convert(const YAML::Node& node, int depth) {
    SourceLocation at = where(node.Mark(), file_);
    if (depth > kMaxDepth) {
      // Also what stops a self-referencing alias (`&a [*a]`).
      diagnostics_.error(at, "nesting deeper than " + std::to_string(kMaxDepth) + " levels");
      return ConfigNode::null(at);
    }
    if (++nodes_ > kMaxNodes) {
      if (!reportedTooMany_)
        diagnostics_.error(at,
                           "more than " + std::to_string(kMaxNodes) + " values (aliases expanding too far?)");
      reportedTooMany_ = true;
      return ConfigNode::null(at);
    }
    switch (node.Type()) {
      case YAML::NodeType::Scalar: return ConfigNode::scalar(node.Scalar(), at);
      case YAML::NodeType::Sequence: {
        ConfigNode out = ConfigNode::sequence(at);
        for (const auto& item : node) out.push(convert(item, depth + 1));
        return out;
      }
      case YAML::NodeType::Map: return convertMap(node, at, depth);
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined: return ConfigNode::null(at);
    }
    return ConfigNode::null(at);
  }

 private:
  ConfigNode convertMap(const YAML::Node& node, const SourceLocation& at, int depth) {
    ConfigNode out = ConfigNode::map(at);
    // yaml-cpp keeps every pair of a map, duplicates included, in file order.
    std::map<std::string, int> firstLine;
    for (const auto& entry : node) {
      SourceLocation keyAt = where(entry.first.Mark(), file_);
      if (!entry.first.IsScalar()) {
        diagnostics_.error(keyAt,
                           std::string("map keys must be strings, got ") + kindName(entry.first.Type()));
        continue;
      }
      const std::string& key = entry.first.Scalar();
      auto [it, inserted] = firstLine.emplace(key, keyAt.line);
      if (!inserted) {
        diagnostics_.error(keyAt,
                           "duplicate key '" + key + "' (first at line " + std::to_string(it->second) + ")");
        continue;
      }
      ConfigNode value = convert(entry.second, depth + 1);
      // yaml-cpp places the null of `key:` at the next token, often lines
      // below; the key is where the operator wrote it.
      if (value.isNull() && value.location().line != keyAt.line) value = ConfigNode::null(keyAt);
      out.set(key, std::move(value), keyAt);
    }
    return out;
  }

  const std::string& file_;
  Diagnostics& diagnostics_;
  std::size_t nodes_ = 0;
  bool reportedTooMany_ = false;
};

Status invalidYaml(const std::string& fileName) { return invalidArgument(fileName + ": invalid YAML"); }

Status fileError(int error) {
  StatusCode code = error == ENOENT                     ? StatusCode::kNotFound
                    : error == EACCES || error == EPERM ? StatusCode::kPermissionDenied
                    : error == EISDIR                   ? StatusCode::kInvalidArgument
                                                        : StatusCode::kUnavailable;
  return Status(code, std::strerror(error));
}

// Reads the whole file with plain POSIX calls: unlike an ifstream they leave a
// reliable errno, and reading a directory fails (EISDIR) instead of looking empty.
Result<std::string> readConfigFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fileError(errno);
  std::string text;
  char buffer[65536];
  Status failure;
  while (true) {
    ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      failure = fileError(errno);
      break;
    }
    if (got == 0) break;
    text.append(buffer, static_cast<std::size_t>(got));
    if (text.size() > kMaxConfigBytes) {
      failure = invalidArgument("file is larger than 4 MiB");
      break;
    }
  }
  ::close(fd);
  if (!failure.ok()) return failure;
  return text;
}

struct DocumentStart {
  YAML::Mark document;  // where the document begins ("---" or its first node)
  YAML::Mark node;      // its first node, where an error about it points
};

// Where each document of `text` starts, stopping at kMaxDocuments + 1 and at
// the first document that does not move past the previous one. Throws
// YAML::Exception on a syntax error.
std::vector<DocumentStart> documentStarts(std::string_view text) {
  class Starts final : public YAML::EventHandler {
   public:
    std::vector<DocumentStart> documents;
    void OnDocumentStart(const YAML::Mark& mark) override {
      documents.push_back({mark, mark});
      first_ = true;
    }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
    void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
    void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override {
      node(mark);
    }
    void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {
      node(mark);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {
      node(mark);
    }
    void OnMapEnd() override {}

   private:
    void node(const YAML::Mark& mark) {
      if (first_ && !documents.empty()) documents.back().node = mark;
      first_ = false;
    }
    bool first_ = false;
  };
  Starts starts;
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  while (starts.documents.size() <= kMaxDocuments && parser.HandleNextDocument(starts)) {
    std::size_t n = starts.documents.size();
    if (n >= 2 && starts.documents[n - 1].document.pos <= starts.documents[n - 2].document.pos) break;
  }
  return starts.documents;
}

}  // namespace

Result<ConfigNode> parseYamlText(std::string_view text, const std::string& fileName,
                                 Diagnostics& diagnostics) {
  if (text.size() > kMaxConfigBytes) {
    diagnostics.error({fileName, 0, 0}, "file is larger than 4 MiB");
    return invalidArgument(fileName + ": too large");
  }
  std::size_t errorsBefore = diagnostics.errorCount();
  try {
    // Every document is read, not just the first (Load alone would silently
    // ignore the rest of the file, syntax errors included), but not with
    // LoadAll: on a stray ',' yaml-cpp 0.7 reads an empty document at the same
    // place again and again, and LoadAll never returns (the config fuzz target
    // found it). A document that starts where the previous one did is an error.
    std::vector<DocumentStart> starts = documentStarts(text);
    if (starts.empty()) return ConfigNode::null({fileName, 0, 0});
    // documentStarts stops at the first document that does not move on: only the last can.
    if (std::size_t n = starts.size(); n >= 2 && starts[n - 1].document.pos <= starts[n - 2].document.pos) {
      diagnostics.error(where(starts[n - 1].document, fileName),
                        "cannot read YAML here (a ',' or another flow indicator outside [ ] or { }?)");
      return invalidYaml(fileName);
    }
    if (starts.size() > 1) {
      diagnostics.error(where(starts[1].node, fileName),
                        "a config file holds one YAML document, found " + std::to_string(starts.size()) +
                            (starts.size() > kMaxDocuments ? " or more" : ""));
      return invalidYaml(fileName);
    }
    ConfigNode out = Converter(fileName, diagnostics).convert(YAML::Load(std::string(text)), 0);
    if (diagnostics.errorCount() > errorsBefore) return invalidYaml(fileName);
    return out;
  } catch (const YAML::Exception& e) {
    // e.msg is the message without yaml-cpp's own "yaml-cpp: error at line..." prefix.
    diagnostics.error(where(e.mark, fileName), e.msg);
  } catch (const std::exception& e) {
    diagnostics.error({fileName, 0, 0}, e.what());
  }
  return invalidYaml(fileName);
}

Result<ConfigNode> parseYamlFile(const std::string& path, Diagnostics& diagnostics) {
  auto text = readConfigFile(path);
  if (!text.ok()) {
    diagnostics.error({path, 0, 0}, "cannot read config file: " + text.status().message());
    return text.status().withContext(path);
  }
  return parseYamlText(*text, path, diagnostics);
}

}  // namespace hive::host
