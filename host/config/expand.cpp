#include "host/config/expand.hpp"

#include <cstdlib>
#include <string_view>
#include <utility>

namespace hive::host {
namespace {

// [A-Za-z_][A-Za-z0-9_]*, in ASCII whatever the locale.
bool validName(std::string_view name) {
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (name.empty() || !letter(name[0])) return false;
  for (char c : name)
    if (!letter(c) && !(c >= '0' && c <= '9')) return false;
  return true;
}

// Expands the scalars of one node. Columns of errors are the scalar's column
// plus the offset of the `${`: exact for a plain scalar on one line, one short
// for a quoted one, and not attempted for a multi-line (block) scalar.
class Expander {
 public:
  Expander(const std::string& text, const SourceLocation& location, const EnvironmentLookup& lookup,
           Diagnostics& diagnostics)
      : offsetColumns_(location.line > 0 && text.find('\n') == std::string::npos),
        location_(location),
        lookup_(lookup),
        diagnostics_(diagnostics) {}

  // `base` is where `text` starts within the scalar (defaults are expanded on
  // their own, but errors in them point into the whole scalar).
  std::string expand(std::string_view text, std::size_t base) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] != '$' || i + 1 >= text.size()) {
        out += text[i];
        continue;
      }
      if (text[i + 1] == '$') {
        out += '$';
        ++i;
        continue;
      }
      if (text[i + 1] != '{') {
        out += '$';
        continue;
      }
      std::size_t close = matchingBrace(text, i + 2);
      if (close == std::string_view::npos) {
        error(base + i, "unterminated '${' (write '$$' for a literal '$')");
        out.append(text.substr(i));
        return out;
      }
      std::string_view inner = text.substr(i + 2, close - i - 2);
      std::string_view name = inner;
      std::optional<std::string_view> fallback;
      std::size_t fallbackOffset = 0;
      if (auto separator = inner.find(":-"); separator != std::string_view::npos) {
        name = inner.substr(0, separator);
        fallback = inner.substr(separator + 2);
        fallbackOffset = base + i + 2 + separator + 2;
      }
      if (!validName(name)) {
        error(base + i, "invalid environment variable name '" + std::string(name) + "'");
      } else if (auto value = lookup_(std::string(name))) {
        out += *value;
      } else if (fallback) {
        // Expanded only when used, as the shell does: `${A:-${B}}` needs B only without A.
        out += expand(*fallback, fallbackOffset);
      } else {
        error(base + i, "environment variable '" + std::string(name) + "' is not set (use ${" +
                            std::string(name) + ":-default} for a default)");
      }
      i = close;
    }
    return out;
  }

 private:
  // The `}` closing a `${` whose name starts at `from`, skipping nested `${...}`
  // (in defaults) and `$$`; npos when there is none.
  static std::size_t matchingBrace(std::string_view text, std::size_t from) {
    int depth = 1;
    for (std::size_t j = from; j < text.size(); ++j) {
      if (text[j] == '$' && j + 1 < text.size() && (text[j + 1] == '$' || text[j + 1] == '{')) {
        if (text[j + 1] == '{') ++depth;
        ++j;
      } else if (text[j] == '}' && --depth == 0) {
        return j;
      }
    }
    return std::string_view::npos;
  }

  void error(std::size_t offset, std::string message) {
    SourceLocation where = location_;
    if (offsetColumns_) where.column += static_cast<int>(offset);
    diagnostics_.error(std::move(where), std::move(message));
  }

  bool offsetColumns_;
  const SourceLocation& location_;
  const EnvironmentLookup& lookup_;
  Diagnostics& diagnostics_;
};

void expandNode(ConfigNode& node, const EnvironmentLookup& lookup, Diagnostics& diagnostics) {
  switch (node.kind()) {
    case ConfigNode::Kind::kScalar:
      if (node.text().find('$') != std::string::npos) {
        std::size_t errorsBefore = diagnostics.errorCount();
        std::string text = Expander(node.text(), node.location(), lookup, diagnostics).expand(node.text(), 0);
        // A scalar that failed to expand becomes null (absent), so that
        // validation does not report the same mistake again as a bad value.
        node = diagnostics.errorCount() > errorsBefore ? ConfigNode::null(node.location())
                                                       : ConfigNode::scalar(std::move(text), node.location());
      }
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
