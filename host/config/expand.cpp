#include "host/config/expand.hpp"

#include <cstdlib>

namespace hive::host {
namespace {

bool validName(std::string_view name) {
  if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

SourceLocation at(const SourceLocation& scalar, std::size_t offset) {
  SourceLocation out = scalar;
  if (out.line > 0) out.column += static_cast<int>(offset);
  return out;
}

std::string expandText(const std::string& text, const SourceLocation& location, const EnvironmentLookup& lookup,
                       Diagnostics& diagnostics) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$') {
      out += text[i];
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (i + 1 >= text.size() || text[i + 1] != '{') {
      out += '$';
      continue;
    }
    std::size_t close = text.find('}', i + 2);
    if (close == std::string::npos) {
      diagnostics.error(at(location, i), "unterminated '${' (write '$$' for a literal '$')");
      return text;
    }
    std::string inner = text.substr(i + 2, close - i - 2);
    std::optional<std::string> fallback;
    if (auto sep = inner.find(":-"); sep != std::string::npos) {
      fallback = inner.substr(sep + 2);
      inner.resize(sep);
    }
    if (!validName(inner)) {
      diagnostics.error(at(location, i), "invalid environment variable name '" + inner + "'");
    } else if (auto value = lookup(inner)) {
      out += *value;
    } else if (fallback) {
      out += *fallback;
    } else {
      diagnostics.error(at(location, i), "environment variable '" + inner + "' is not set (use ${" + inner +
                                             ":-default} for a default)");
    }
    i = close;
  }
  return out;
}

void expandNode(ConfigNode& node, const EnvironmentLookup& lookup, Diagnostics& diagnostics) {
  switch (node.kind()) {
    case ConfigNode::Kind::kScalar:
      if (node.text().find('$') != std::string::npos)
        node = ConfigNode::scalar(expandText(node.text(), node.location(), lookup, diagnostics), node.location());
      return;
    case ConfigNode::Kind::kSequence: {
      ConfigNode out = ConfigNode::sequence(node.location());
      for (const auto& item : node.items()) {
        ConfigNode copy = item;
        expandNode(copy, lookup, diagnostics);
        out.push(std::move(copy));
      }
      node = std::move(out);
      return;
    }
    case ConfigNode::Kind::kMap: {
      ConfigNode out = ConfigNode::map(node.location());
      for (const auto& entry : node.entries()) {
        ConfigNode copy = entry.value;
        expandNode(copy, lookup, diagnostics);
        out.set(entry.key, std::move(copy), entry.keyLocation);
      }
      node = std::move(out);
      return;
    }
    case ConfigNode::Kind::kNull: return;
  }
}

}  // namespace

std::optional<std::string> processEnvironment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

void expandVariables(ConfigNode& root, const EnvironmentLookup& lookup, Diagnostics& diagnostics) {
  expandNode(root, lookup, diagnostics);
}

}  // namespace hive::host
